//! Explicit biased ALS for rating prediction (global mean, user/item biases, ALS-WR regularization).
