//! argon2id password hashing (argon2 0.5 defaults: 19 MiB, 2 passes, 1 lane), run in
//! `spawn_blocking` behind a semaphore so that hashing never blocks the async executor and at
//! most one hash per core is in flight (bounding memory too).

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use password_hash::rand_core::OsRng;
use tokio::sync::{OnceCell, Semaphore};

use crate::domain::{Password, PasswordHash};

/// Why hashing or checking could not be done (never "wrong password": that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// argon2 refused the input or the stored hash is not a valid PHC string.
    #[error("argon2: {0}")]
    Argon2(password_hash::Error),
    /// The hashing pool is closed (the service is stopping).
    #[error("hashing pool closed: {0}")]
    Closed(#[source] tokio::sync::AcquireError),
    /// The blocking task was cancelled or panicked.
    #[error("hashing task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Hashes and checks passwords off the executor.
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    params: Params,
    /// Hash of a random password, checked when the login names no user so that unknown users and
    /// wrong passwords take the same time.
    decoy: Arc<OnceCell<PasswordHash>>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new(Params::default())
    }
}

impl Hasher {
    /// A hasher with `params`, running as many hashes at once as there are cores.
    pub fn new(params: Params) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self { permits: Arc::new(Semaphore::new(cores)), params, decoy: Arc::new(OnceCell::new()) }
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Hashes `password` with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        let params = self.params.clone();
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Self::argon2(params)
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| PasswordHash::from_phc(hash.to_string()))
                .map_err(HashError::Argon2)
        })
        .await
    }

    /// Whether `password` matches `hash` (the parameters stored in the hash are used).
    pub async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let password = password.clone();
        let hash = hash.clone();
        let params = self.params.clone();
        self.blocking(move || {
            let parsed = argon2::PasswordHash::new(hash.expose()).map_err(HashError::Argon2)?;
            match Self::argon2(params).verify_password(password.expose().as_bytes(), &parsed) {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::Password) => Ok(false),
                Err(e) => Err(HashError::Argon2(e)),
            }
        })
        .await
    }

    /// Spends the same work as a real check, for logins that name no user; always `false`.
    pub async fn verify_decoy(&self, password: &Password) -> Result<bool, HashError> {
        let decoy = self
            .decoy
            .get_or_try_init(|| async {
                let random = Password::parse_new(&uuid::Uuid::new_v4().to_string())
                    .expect("a uuid is a valid password");
                self.hash(&random).await
            })
            .await?;
        self.verify(password, decoy).await?;
        Ok(false)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self.permits.acquire().await.map_err(HashError::Closed)?;
        tokio::task::spawn_blocking(work).await.map_err(HashError::Task)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify() {
        let hasher = Hasher::default();
        let password = Password::parse_new("correct horse battery").unwrap();
        let first = hasher.hash(&password).await.unwrap();
        let second = hasher.hash(&password).await.unwrap();
        assert!(first.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", first.expose());
        assert_ne!(first, second, "salts differ");
        assert!(hasher.verify(&password, &first).await.unwrap());
        let wrong = Password::parse_offered("correct horse battery!").unwrap();
        assert!(!hasher.verify(&wrong, &first).await.unwrap());
        assert!(!hasher.verify_decoy(&password).await.unwrap());
        assert!(hasher.verify(&password, &PasswordHash::from_phc("not a hash".into())).await.is_err());
    }
}
