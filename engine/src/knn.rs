//! Item-kNN: cosine and BM25-weighted item-item similarities, top-K sparse neighbours per item.
