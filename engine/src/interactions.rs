//! User × item interaction matrices: a CSR and its transpose, built from triplets.

use rayon::prelude::*;

use crate::error::{EngineError, Result};
use crate::ids::IdMap;

/// One observed (user, item, value) event with its time, in dense indices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interaction {
    /// Dense user index.
    pub user_idx: u32,
    /// Dense item index.
    pub item_idx: u32,
    /// The rating, count or weight.
    pub value: f32,
    /// Unix seconds; used by temporal splits and by [`Duplicates::KeepLatest`].
    pub timestamp: i64,
}

/// What to do when the same (user, item) pair occurs more than once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Duplicates {
    /// Keep the entry with the largest timestamp (the last one in input order on ties).
    /// The default: a re-rating replaces the earlier rating.
    #[default]
    KeepLatest,
    /// Add the values (play counts, clicks).
    Sum,
    /// Keep the largest value.
    Max,
    /// Refuse the input with [`EngineError::Duplicate`].
    Reject,
}

/// A row view of a [`Csr`]: column indices (strictly increasing) and their values.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// Column indices, sorted ascending, no repeats.
    pub indices: &'a [u32],
    /// Values aligned with `indices`.
    pub values: &'a [f32],
}

impl<'a> Row<'a> {
    /// A row from parallel slices (caller keeps them aligned and sorted).
    pub fn new(indices: &'a [u32], values: &'a [f32]) -> Self {
        debug_assert_eq!(indices.len(), values.len());
        Self { indices, values }
    }

    /// Number of stored entries.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the row is empty.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Whether column `col` is stored (binary search).
    pub fn contains(&self, col: u32) -> bool {
        self.indices.binary_search(&col).is_ok()
    }

    /// `(column, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + 'a {
        self.indices.iter().copied().zip(self.values.iter().copied())
    }
}

/// Compressed sparse rows with sorted, unique column indices per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Csr {
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Csr {
    /// Builds from raw parts, checking every invariant (lengths, sorted unique columns in range,
    /// finite values). Used when loading stored matrices.
    pub fn from_parts(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
    ) -> Result<Self> {
        if indptr.len() != n_rows + 1 {
            return Err(EngineError::Shape {
                what: "CSR indptr length",
                expected: n_rows + 1,
                got: indptr.len(),
            });
        }
        if indices.len() != values.len() {
            return Err(EngineError::Shape {
                what: "CSR values length",
                expected: indices.len(),
                got: values.len(),
            });
        }
        if indptr[0] != 0 || indptr[n_rows] != indices.len() {
            return Err(EngineError::Shape {
                what: "CSR indptr end",
                expected: indices.len(),
                got: indptr[n_rows],
            });
        }
        for row in 0..n_rows {
            let (start, end) = (indptr[row], indptr[row + 1]);
            if start > end || end > indices.len() {
                return Err(EngineError::Shape { what: "CSR indptr monotone", expected: start, got: end });
            }
            let cols = &indices[start..end];
            for (k, &col) in cols.iter().enumerate() {
                if col as usize >= n_cols {
                    return Err(EngineError::UnknownItem { item_idx: col, n_items: n_cols });
                }
                if k > 0 && cols[k - 1] >= col {
                    return Err(EngineError::Duplicate { user_idx: row as u32, item_idx: col });
                }
                let value = values[start + k];
                if !value.is_finite() {
                    return Err(EngineError::NonFinite { user_idx: row as u32, item_idx: col, value });
                }
            }
        }
        Ok(Self { n_cols, indptr, indices, values })
    }

    /// An `n_rows × n_cols` matrix with no entries.
    pub fn empty(n_rows: usize, n_cols: usize) -> Self {
        Self { n_cols, indptr: vec![0; n_rows + 1], indices: Vec::new(), values: Vec::new() }
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row `row`; panics if out of range (callers check indices at the API boundary).
    #[inline]
    pub fn row(&self, row: usize) -> Row<'_> {
        let (start, end) = (self.indptr[row], self.indptr[row + 1]);
        Row { indices: &self.indices[start..end], values: &self.values[start..end] }
    }

    /// Row `row`, or [`EngineError::UnknownUser`] when out of range.
    pub fn checked_row(&self, row: u32) -> Result<Row<'_>> {
        if (row as usize) < self.n_rows() {
            Ok(self.row(row as usize))
        } else {
            Err(EngineError::UnknownUser { user_idx: row, n_users: self.n_rows() })
        }
    }

    /// Number of entries in `row`.
    #[inline]
    pub fn row_len(&self, row: usize) -> usize {
        self.indptr[row + 1] - self.indptr[row]
    }

    /// Row offsets (`n_rows + 1` entries).
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column indices of all rows, concatenated.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Values of all rows, concatenated.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Applies `f` to every stored value (e.g. binarising ratings).
    pub fn map_values(mut self, f: impl Fn(f32) -> f32) -> Self {
        self.values.iter_mut().for_each(|v| *v = f(*v));
        self
    }

    /// The transpose, with sorted columns (a counting sort: O(nnz + n)).
    pub fn transpose(&self) -> Csr {
        let n_rows = self.n_rows();
        let mut counts = vec![0usize; self.n_cols + 1];
        for &col in &self.indices {
            counts[col as usize + 1] += 1;
        }
        for c in 0..self.n_cols {
            counts[c + 1] += counts[c];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for row in 0..n_rows {
            let r = self.row(row);
            for (col, value) in r.iter() {
                let slot = next[col as usize];
                indices[slot] = row as u32;
                values[slot] = value;
                next[col as usize] += 1;
            }
        }
        Csr { n_cols: n_rows, indptr, indices, values }
    }
}

/// A user × item matrix together with its item × user transpose.
#[derive(Clone, Debug, PartialEq)]
pub struct Interactions {
    user_items: Csr,
    item_users: Csr,
}

impl Csr {
    /// The `n_users × n_items` matrix of dense triplets, users as rows, as
    /// [`Interactions::from_entries`] builds it but without the transpose.
    pub fn from_entries(
        n_users: usize,
        n_items: usize,
        entries: &[Interaction],
        duplicates: Duplicates,
    ) -> Result<Self> {
        Self::from_entries_where(n_users, n_items, entries, duplicates, |_| true)
    }

    /// [`Csr::from_entries`] of only the entries `keep` accepts, read in place: no filtered
    /// copy of `entries` is made (a training set's raw ratings are the largest buffer of a run).
    pub fn from_entries_where(
        n_users: usize,
        n_items: usize,
        entries: &[Interaction],
        duplicates: Duplicates,
        keep: impl Fn(&Interaction) -> bool,
    ) -> Result<Self> {
        for e in entries.iter().filter(|e| keep(e)) {
            if e.user_idx as usize >= n_users {
                return Err(EngineError::UnknownUser { user_idx: e.user_idx, n_users });
            }
            if e.item_idx as usize >= n_items {
                return Err(EngineError::UnknownItem { item_idx: e.item_idx, n_items });
            }
            if !e.value.is_finite() {
                return Err(EngineError::NonFinite {
                    user_idx: e.user_idx,
                    item_idx: e.item_idx,
                    value: e.value,
                });
            }
        }
        // Counting sort by user keeps input order inside a row; a stable sort by item then
        // puts duplicates next to each other, still in input order.
        let mut indptr = vec![0usize; n_users + 1];
        for e in entries.iter().filter(|e| keep(e)) {
            indptr[e.user_idx as usize + 1] += 1;
        }
        for u in 0..n_users {
            indptr[u + 1] += indptr[u];
        }
        let kept = indptr[n_users];
        let mut next = indptr.clone();
        let mut order = vec![0u32; kept];
        for (pos, e) in entries.iter().enumerate().filter(|(_, e)| keep(e)) {
            order[next[e.user_idx as usize]] = pos as u32;
            next[e.user_idx as usize] += 1;
        }
        let mut out_indptr = Vec::with_capacity(n_users + 1);
        out_indptr.push(0);
        let mut indices = Vec::with_capacity(kept);
        let mut values = Vec::with_capacity(kept);
        // Rows sort independently: on the current rayon pool.
        let mut rows = Vec::with_capacity(n_users);
        let mut rest = order.as_mut_slice();
        for u in 0..n_users {
            let (row, after) = rest.split_at_mut(indptr[u + 1] - indptr[u]);
            rows.push(row);
            rest = after;
        }
        rows.into_par_iter()
            .with_min_len(256)
            .for_each(|row| row.sort_by_key(|&pos| entries[pos as usize].item_idx));
        for u in 0..n_users {
            let row = &order[indptr[u]..indptr[u + 1]];
            let mut k = 0;
            while k < row.len() {
                let first = &entries[row[k] as usize];
                let (mut value, mut time) = (first.value, first.timestamp);
                let mut j = k + 1;
                while j < row.len() && entries[row[j] as usize].item_idx == first.item_idx {
                    let e = &entries[row[j] as usize];
                    match duplicates {
                        Duplicates::KeepLatest => {
                            if e.timestamp >= time {
                                (value, time) = (e.value, e.timestamp);
                            }
                        }
                        Duplicates::Sum => value += e.value,
                        Duplicates::Max => value = value.max(e.value),
                        Duplicates::Reject => {
                            return Err(EngineError::Duplicate { user_idx: u as u32, item_idx: e.item_idx });
                        }
                    }
                    j += 1;
                }
                indices.push(first.item_idx);
                values.push(value);
                k = j;
            }
            out_indptr.push(indices.len());
        }
        Ok(Csr { n_cols: n_items, indptr: out_indptr, indices, values })
    }
}

impl Interactions {
    /// Builds the matrix from dense triplets. Indices must be below `n_users` / `n_items` and
    /// values finite; repeated (user, item) pairs are combined by `duplicates`.
    pub fn from_entries(
        n_users: usize,
        n_items: usize,
        entries: &[Interaction],
        duplicates: Duplicates,
    ) -> Result<Self> {
        Ok(Self::from_csr(Csr::from_entries(n_users, n_items, entries, duplicates)?))
    }

    /// Wraps a user × item CSR, computing its transpose.
    pub fn from_csr(user_items: Csr) -> Self {
        let item_users = user_items.transpose();
        Self { user_items, item_users }
    }

    /// Number of users (rows).
    pub fn n_users(&self) -> usize {
        self.user_items.n_rows()
    }

    /// Number of items (columns).
    pub fn n_items(&self) -> usize {
        self.user_items.n_cols()
    }

    /// Number of stored (user, item) pairs.
    pub fn nnz(&self) -> usize {
        self.user_items.nnz()
    }

    /// The user × item matrix, dropping the transpose.
    pub fn into_user_items(self) -> Csr {
        self.user_items
    }

    /// The user × item matrix.
    pub fn user_items(&self) -> &Csr {
        &self.user_items
    }

    /// The item × user matrix.
    pub fn item_users(&self) -> &Csr {
        &self.item_users
    }

    /// A copy with every value replaced by `f(value)`.
    pub fn map_values(&self, f: impl Fn(f32) -> f32 + Copy) -> Self {
        Self::from_csr(self.user_items.clone().map_values(f))
    }
}

/// Interactions keyed by external ids, as read from a dataset: id maps plus dense entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InteractionLog {
    /// External user id ↔ dense user index.
    pub users: IdMap,
    /// External item (movie) id ↔ dense item index.
    pub items: IdMap,
    /// The events, in input order.
    pub entries: Vec<Interaction>,
}

impl InteractionLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one event, assigning dense indices to new ids.
    pub fn push(&mut self, user_id: u64, item_id: u64, value: f32, timestamp: i64) {
        let user_idx = self.users.get_or_insert(user_id);
        let item_idx = self.items.get_or_insert(item_id);
        self.entries.push(Interaction { user_idx, item_idx, value, timestamp });
    }

    /// Number of distinct users.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Number of distinct items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// The matrix of all entries.
    pub fn to_interactions(&self, duplicates: Duplicates) -> Result<Interactions> {
        Interactions::from_entries(self.n_users(), self.n_items(), &self.entries, duplicates)
    }

    /// The matrix of `entries` (a subset, e.g. a training split) in this log's index space.
    pub fn interactions_of(&self, entries: &[Interaction], duplicates: Duplicates) -> Result<Interactions> {
        Interactions::from_entries(self.n_users(), self.n_items(), entries, duplicates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(user_idx: u32, item_idx: u32, value: f32, timestamp: i64) -> Interaction {
        Interaction { user_idx, item_idx, value, timestamp }
    }

    #[test]
    fn rows_are_sorted_and_transpose_matches() {
        let m = Interactions::from_entries(
            3,
            4,
            &[e(2, 3, 1.0, 0), e(0, 2, 2.0, 0), e(0, 0, 3.0, 0), e(2, 0, 4.0, 0)],
            Duplicates::Reject,
        )
        .unwrap();
        assert_eq!(m.user_items().row(0).indices, &[0, 2]);
        assert_eq!(m.user_items().row(0).values, &[3.0, 2.0]);
        assert!(m.user_items().row(1).is_empty());
        assert_eq!(m.item_users().row(0).indices, &[0, 2]);
        assert_eq!(m.item_users().row(0).values, &[3.0, 4.0]);
        assert_eq!(m.item_users().row(3).indices, &[2]);
        assert_eq!(m.item_users().transpose(), *m.user_items());
        assert_eq!(m.nnz(), 4);
    }

    #[test]
    fn duplicate_policies() {
        let entries = [e(0, 1, 2.0, 10), e(0, 1, 5.0, 5), e(0, 1, 3.0, 10)];
        let value = |d| Interactions::from_entries(1, 2, &entries, d).unwrap().user_items().values()[0];
        assert_eq!(value(Duplicates::KeepLatest), 3.0);
        assert_eq!(value(Duplicates::Sum), 10.0);
        assert_eq!(value(Duplicates::Max), 5.0);
        assert_eq!(
            Interactions::from_entries(1, 2, &entries, Duplicates::Reject).unwrap_err(),
            EngineError::Duplicate { user_idx: 0, item_idx: 1 }
        );
    }

    #[test]
    fn bad_entries_name_what_was_wrong() {
        let err = Interactions::from_entries(2, 2, &[e(2, 0, 1.0, 0)], Duplicates::Sum).unwrap_err();
        assert_eq!(err.to_string(), "unknown user index 2: the model has 2 users");
        let err = Interactions::from_entries(2, 2, &[e(0, 5, 1.0, 0)], Duplicates::Sum).unwrap_err();
        assert_eq!(err.to_string(), "unknown item index 5: the model has 2 items");
        let err = Interactions::from_entries(2, 2, &[e(0, 1, f32::NAN, 0)], Duplicates::Sum).unwrap_err();
        assert!(matches!(err, EngineError::NonFinite { user_idx: 0, item_idx: 1, .. }));
    }

    #[test]
    fn from_entries_where_equals_building_from_a_filtered_copy() {
        // Re-ratings on both sides of the filter, users without a kept entry, and an entry the
        // filter drops that would be an error if it were read.
        let entries = [
            e(0, 1, 5.0, 10),
            e(2, 0, 2.0, 3),
            e(0, 1, 4.0, 12),
            e(1, 2, 1.0, 1),
            e(0, 0, 3.0, 4),
            e(2, 2, 4.5, 7),
            e(0, 0, 4.0, 2),
            e(1, 9, 1.0, 1),
        ];
        let positive = |e: &Interaction| e.value >= 4.0;
        let copy: Vec<Interaction> = entries.iter().copied().filter(positive).collect();
        let want = Csr::from_entries(3, 3, &copy, Duplicates::KeepLatest).unwrap();
        let got = Csr::from_entries_where(3, 3, &entries, Duplicates::KeepLatest, positive).unwrap();
        assert_eq!(got, want);
        assert_eq!((got.nnz(), got.row_len(1)), (3, 0));
        assert_eq!(got.values(), &[4.0, 4.0, 4.5], "the latest kept rating of each pair");
        let err = Csr::from_entries_where(3, 3, &entries, Duplicates::KeepLatest, |e| e.value < 4.0);
        assert_eq!(err.unwrap_err(), EngineError::UnknownItem { item_idx: 9, n_items: 3 });
    }

    #[test]
    fn from_parts_checks_invariants() {
        assert!(Csr::from_parts(1, 3, vec![0, 2], vec![0, 2], vec![1.0, 1.0]).is_ok());
        assert!(matches!(
            Csr::from_parts(1, 3, vec![0, 2], vec![2, 0], vec![1.0, 1.0]),
            Err(EngineError::Duplicate { .. })
        ));
        assert!(matches!(
            Csr::from_parts(1, 3, vec![0, 1], vec![3], vec![1.0]),
            Err(EngineError::UnknownItem { item_idx: 3, n_items: 3 })
        ));
        assert!(matches!(
            Csr::from_parts(2, 3, vec![0, 1], vec![0], vec![1.0]),
            Err(EngineError::Shape { .. })
        ));
    }

    #[test]
    fn log_maps_sparse_ids() {
        let mut log = InteractionLog::new();
        log.push(610, 193_609, 4.5, 1);
        log.push(1, 1, 3.0, 2);
        log.push(610, 1, 5.0, 3);
        assert_eq!((log.n_users(), log.n_items()), (2, 2));
        let m = log.to_interactions(Duplicates::KeepLatest).unwrap();
        assert_eq!(m.user_items().row(0).indices, &[0, 1]);
        assert_eq!(log.items.external(0), Some(193_609));
    }
}
