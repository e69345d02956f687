//! EASE (Steck 2019): closed-form item-item model from one regularized Gram-matrix inverse.
