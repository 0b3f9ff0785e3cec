//! Ed25519 keys: signing and verifying types kept apart, key ids, and key files.
//!
//! A [`KeyId`] is `H_key_id(public_key)` (docs/FORMAT.md §2.1). Secret key files are
//! written with mode 0600 and refused when group or others can read them. `Debug` never prints
//! secret material, and the secret is zeroized on drop (ed25519-dalek's `zeroize` feature).

use core::fmt;
use core::str::FromStr;
use std::io::Write;
use std::path::Path;

use crate::error::KeyError;
use crate::hash::{hex_decode_into, hex_encode, Digest, Domain};

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// First token of a secret key file; the hex seed follows it on the same line.
pub const SECRET_KEY_FILE_TAG: &str = "provledger-secret-key-v1";
/// Largest secret key file read, in bytes.
const MAX_KEY_FILE_LEN: u64 = 256;

/// The identifier of a public key: a domain-separated BLAKE3 hash of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub Digest);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// An Ed25519 public key that has passed validation (canonical point, not of small order).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey {
    inner: ed25519_dalek::VerifyingKey,
    id: KeyId,
}

impl VerifyingKey {
    /// Parses and validates 32 public-key bytes.
    ///
    /// # Errors
    /// [`KeyError::InvalidPublicKey`] for a non-canonical encoding or a weak (small-order) key.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self, KeyError> {
        let inner = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::InvalidPublicKey("not a valid Ed25519 point"))?;
        if inner.is_weak() {
            return Err(KeyError::InvalidPublicKey("small-order (weak) key"));
        }
        // ed25519-dalek accepts y ≥ p (reduced mod p); one key must have one encoding, or it
        // would have two key ids.
        if inner.to_edwards().compress().to_bytes() != *bytes {
            return Err(KeyError::InvalidPublicKey("non-canonical encoding"));
        }
        Ok(Self::wrap(inner))
    }

    fn wrap(inner: ed25519_dalek::VerifyingKey) -> Self {
        let id = KeyId(Domain::KeyId.hash(inner.as_bytes()));
        VerifyingKey { inner, id }
    }

    /// The 32 public-key bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.inner.to_bytes()
    }

    /// The key's identifier.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// Lowercase hex of the public key, as the CLI prints and `--trust` takes it.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex_encode(self.inner.as_bytes())
    }

    /// Strictly verifies `signature` over `message` (`verify_strict`: rejects non-canonical
    /// and small-order components).
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.inner.verify_strict(message, &sig).is_ok()
    }
}

impl FromStr for VerifyingKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        hex_decode_into(s.trim(), &mut bytes)
            .map_err(|_| KeyError::InvalidPublicKey("expected 64 hexadecimal digits"))?;
        VerifyingKey::from_bytes(&bytes)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.to_hex())
    }
}

impl fmt::Display for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An Ed25519 secret key. `Debug` shows only the key id; the secret is zeroized on drop.
///
/// A `SigningKey` is a shared handle: cloning it (to give the ledger and a draft the same key)
/// shares the one secret in memory instead of copying it, and the secret is zeroized when the
/// last clone is dropped.
///
/// ```
/// use provledger::SigningKey;
/// let key = SigningKey::generate()?;
/// let sig = key.sign(b"message");
/// assert!(key.verifying_key().verify(b"message", &sig));
/// assert!(!format!("{key:?}").contains(&provledger::hash::hex_encode(&key.to_seed())));
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Clone)]
pub struct SigningKey {
    inner: std::sync::Arc<ed25519_dalek::SigningKey>,
    public: VerifyingKey,
}

impl SigningKey {
    /// A fresh key from the operating system's random source.
    ///
    /// # Errors
    /// [`KeyError::Entropy`] if the OS random source fails.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Entropy(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// The key whose 32-byte seed is `seed` (deterministic; for tests and vectors).
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let inner = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = VerifyingKey::wrap(inner.verifying_key());
        SigningKey {
            inner: std::sync::Arc::new(inner),
            public,
        }
    }

    /// The 32-byte seed. Handle with care.
    #[must_use]
    pub fn to_seed(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    /// The public half.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public
    }

    /// The public key's identifier.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// Signs `message` (deterministic Ed25519, RFC 8032).
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        use ed25519_dalek::Signer;
        self.inner.sign(message).to_bytes()
    }

    /// Writes the key to a new file with mode 0600. Refuses to overwrite an existing file.
    ///
    /// # Errors
    /// [`KeyError::Io`] if the file exists or cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(path).map_err(io)?;
        let line = zeroize::Zeroizing::new(format!("{SECRET_KEY_FILE_TAG} {}\n", hex_encode(&self.to_seed())));
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a key file written by [`SigningKey::save`] (or `provledger keygen`).
    ///
    /// # Errors
    /// [`KeyError::InsecurePermissions`] if group or others may read it (Unix),
    /// [`KeyError::InvalidKeyFile`] if it is not a key file, [`KeyError::Io`] on I/O failure.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bad = |reason| KeyError::InvalidKeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Opened once, without blocking (a FIFO cannot hang the caller); every check below is
        // made on the opened descriptor, so the file read is the file checked. A symbolic
        // link the caller names is followed (secret volumes are often links).
        let (file, meta) = match crate::storage::open_input(path) {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Err(bad("not a regular file")),
            Err(e) => return Err(io(e)),
        };
        // A key file is one short line; anything larger is not one (and is not read whole).
        if meta.len() > MAX_KEY_FILE_LEN {
            return Err(bad("file too large to be a key file"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::InsecurePermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_LEN as usize + 1));
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_KEY_FILE_LEN + 1), &mut bytes).map_err(io)?;
        if bytes.len() as u64 > MAX_KEY_FILE_LEN {
            return Err(bad("file too large to be a key file"));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8 text"))?;
        let mut words = text.split_whitespace();
        if words.next() != Some(SECRET_KEY_FILE_TAG) {
            return Err(bad("missing 'provledger-secret-key-v1' tag"));
        }
        let hex = words.next().ok_or_else(|| bad("missing key"))?;
        if words.next().is_some() {
            return Err(bad("unexpected text after the key"));
        }
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        hex_decode_into(hex, seed.as_mut()).map_err(|_| bad("key must be 64 hexadecimal digits"))?;
        Ok(Self::from_seed(&seed))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey {{ key_id: {}, .. }}", self.key_id())
    }
}

/// A signing key the ledger can use without holding its secret: an in-memory [`SigningKey`],
/// or a remote signer (HSM, KMS) that implements this trait.
///
/// The signer MUST be deterministic RFC 8032 pure Ed25519: the writer derives its seal key
/// from a signature over a fixed message (docs/FORMAT.md §7.5), so it must get the same
/// signature every time.
pub trait Signer: Send + Sync {
    /// The public key.
    fn verifying_key(&self) -> VerifyingKey;

    /// Signs `message`.
    ///
    /// # Errors
    /// [`KeyError::Signer`] when a remote signer cannot sign.
    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], KeyError>;
}

impl Signer for SigningKey {
    fn verifying_key(&self) -> VerifyingKey {
        SigningKey::verifying_key(self)
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], KeyError> {
        Ok(SigningKey::sign(self, message))
    }
}

impl<S: Signer + ?Sized> Signer for std::sync::Arc<S> {
    fn verifying_key(&self) -> VerifyingKey {
        (**self).verifying_key()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], KeyError> {
        (**self).sign(message)
    }
}

/// Lets a key be handed where a shared signer is expected: `key.clone().into()`.
impl From<SigningKey> for std::sync::Arc<dyn Signer> {
    fn from(k: SigningKey) -> Self {
        std::sync::Arc::new(k)
    }
}

/// What the ledger accepts as a signer (the writer's key, a co-signer): any [`Signer`] by
/// value, a `&SigningKey` (its shared handle is cloned, the secret is not copied), or an
/// `Arc<dyn Signer>`.
///
/// ```
/// use provledger::{Draft, Ledger, Options, SigningKey};
/// let dir = tempfile::tempdir()?;
/// let writer = SigningKey::generate()?;
/// let ledger = Ledger::create(dir.path(), &writer, "demo", Options::default())?;
/// let d = Draft::application("text/plain", b"hello".to_vec()).cosigned_by(&writer);
/// # let _ = d;
/// # Ok::<_, provledger::Error>(())
/// ```
pub trait IntoSigner {
    /// The signer, shared.
    fn into_signer(self) -> std::sync::Arc<dyn Signer>;
}

impl<S: Signer + 'static> IntoSigner for S {
    fn into_signer(self) -> std::sync::Arc<dyn Signer> {
        std::sync::Arc::new(self)
    }
}

impl IntoSigner for &SigningKey {
    fn into_signer(self) -> std::sync::Arc<dyn Signer> {
        std::sync::Arc::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = SigningKey::from_seed(&[7; 32]);
        key.save(&path).unwrap();
        let back = SigningKey::load(&path).unwrap();
        assert_eq!(back.to_seed(), key.to_seed());
        assert!(key.save(&path).is_err(), "save must not overwrite");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                SigningKey::load(&path),
                Err(KeyError::InsecurePermissions { mode: 0o644, .. })
            ));
        }
    }

    #[test]
    fn rejects_malformed_key_files() {
        let dir = tempfile::tempdir().unwrap();
        for (i, body) in [
            "",
            "provledger-secret-key-v1",
            "provledger-secret-key-v1 abcd",
            "other 00",
        ]
        .iter()
        .enumerate()
        {
            let path = dir.path().join(format!("k{i}"));
            std::fs::write(&path, body).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            assert!(
                matches!(SigningKey::load(&path), Err(KeyError::InvalidKeyFile { .. })),
                "{body:?}"
            );
        }
    }

    #[test]
    fn debug_hides_secret_and_weak_keys_are_refused() {
        let key = SigningKey::from_seed(&[9; 32]);
        assert!(!format!("{key:?}").contains(&hex_encode(&key.to_seed())));
        // The identity point (small order) encodes as 1 followed by zeros.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert!(VerifyingKey::from_bytes(&weak).is_err());
        let vk = key.verifying_key();
        assert_eq!(vk.to_hex().parse::<VerifyingKey>().unwrap(), vk);
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        // y = p + 3 (p = 2^255 - 19) decodes to the same point as y = 3 in ed25519-dalek.
        let mut y = [0xffu8; 32];
        y[0] = 0xed + 3;
        y[31] = 0x7f;
        let canonical = {
            let mut c = [0u8; 32];
            c[0] = 3;
            c
        };
        if VerifyingKey::from_bytes(&canonical).is_ok() {
            assert!(VerifyingKey::from_bytes(&y).is_err());
        }
        for sign in [0u8, 0x80] {
            let mut k = y;
            k[31] = 0x7f | sign;
            assert!(VerifyingKey::from_bytes(&k).is_err(), "sign bit {sign:#x}");
        }
    }
}
