//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with conjugate-gradient and Cholesky solvers.
