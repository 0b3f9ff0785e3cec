//! Ed25519 keys: signing and verifying types kept apart, key ids, key files, and the
//! [`Signer`] trait for keys held elsewhere (HSM, KMS, signing service).
//!
//! A [`KeyId`] is `H_key_id(public_key)` (docs/FORMAT.md §2.1). Secret key files are
//! written with mode 0600 and refused when group or others can read them. `Debug` never prints
//! secret material, and the secret is zeroized on drop (ed25519-dalek's `zeroize` feature); the
//! copies this module hands out or makes while saving and loading are zeroized too
//! ([`SigningKey::to_seed`] returns a [`Zeroizing`] array).
//!
//! Signing is RFC 8032 pure Ed25519 (ed25519-dalek). Verification follows the one rule of
//! docs/FORMAT.md §3 (ZIP 215, see [`crate::signature`]); keys are validated strictly when they
//! are parsed ([`VerifyingKey::from_bytes`]).

use core::fmt;
use core::str::FromStr;
use std::io::{Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::hash::{hex_decode_into, hex_encode, Digest, Domain};

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// First token of a secret key file; the hex seed follows it on the same line.
pub const SECRET_KEY_FILE_TAG: &str = "provledger-secret-key-v1";

/// The identifier of a public key: a domain-separated BLAKE3 hash of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
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
///
/// It keeps the decoded point, so verifying with it does not decode the key again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey {
    /// The 32 bytes and the decoded point, as the verifier of docs/FORMAT.md §3 uses them.
    point: ed25519_zebra::VerificationKey,
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

    /// Wraps a key that passed validation (or was derived from a seed, which always gives a
    /// canonical point of prime order).
    fn wrap(inner: ed25519_dalek::VerifyingKey) -> Self {
        let bytes = inner.to_bytes();
        let point = ed25519_zebra::VerificationKey::try_from(bytes)
            .expect("a validated key is a point on the curve, which the ZIP-215 decoder accepts");
        let id = KeyId(Domain::KeyId.hash(&bytes));
        VerifyingKey { point, id }
    }

    /// The decoded point, for [`crate::signature`].
    pub(crate) fn point(&self) -> &ed25519_zebra::VerificationKey {
        &self.point
    }

    /// The 32 public-key bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.point.into()
    }

    /// The key's identifier.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// Lowercase hex of the public key, as the CLI prints and `--trust` takes it.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex_encode(&self.to_bytes())
    }

    /// Whether `signature` is a valid signature by this key over `message`, by the one rule
    /// of docs/FORMAT.md §3 (ZIP 215: canonical `S`, cofactored equation
    /// `[8][S]B = [8]R + [8][k]A`). Batch verification (§3.5), which [`verify`](crate::verify())
    /// uses, accepts exactly the same signatures.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        crate::signature::verify_one(self, message, signature)
    }
}

/// As its 64 hex digits; deserializing validates the key as [`VerifyingKey::from_bytes`] does.
impl serde::Serialize for VerifyingKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for VerifyingKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex.parse().map_err(serde::de::Error::custom)
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
/// assert!(!format!("{key:?}").contains(&provledger::hash::hex_encode(&*key.to_seed())));
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Clone)]
pub struct SigningKey {
    inner: std::sync::Arc<Expanded>,
    public: VerifyingKey,
}

/// A key with its SHA-512 expansion (secret scalar and nonce prefix) computed once: RFC 8032
/// signing derives both from the seed, and ed25519-dalek's `sign` does so on every call — one
/// more SHA-512 and a scalar reduction per signature, about 2% of signing.
struct Expanded {
    key: ed25519_dalek::SigningKey,
    /// Derived from `key` exactly as RFC 8032 §5.1.6 step 1 does (never from anything else:
    /// a wrong expansion leaks the key); zeroized when dropped.
    expanded: ed25519_dalek::hazmat::ExpandedSecretKey,
    public: ed25519_dalek::VerifyingKey,
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
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let expanded = ed25519_dalek::hazmat::ExpandedSecretKey::from(key.as_bytes());
        let dalek_public = key.verifying_key();
        SigningKey {
            inner: std::sync::Arc::new(Expanded {
                key,
                expanded,
                public: dalek_public,
            }),
            public: VerifyingKey::wrap(dalek_public),
        }
    }

    /// The 32-byte seed, in a buffer that is zeroized when dropped. Handle with care: do not
    /// copy it out of the [`Zeroizing`] wrapper.
    #[must_use]
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.inner.key.as_bytes())
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
        // The same signature as `ed25519_dalek::SigningKey::sign` (pinned by the unit test
        // `signs_as_ed25519_dalek_does` and by the vectors), without re-expanding the seed.
        let e = &*self.inner;
        ed25519_dalek::hazmat::raw_sign::<ed25519_dalek::Sha512>(&e.expanded, message, &e.public).to_bytes()
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
        file.write_all(&self.key_file_line()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// The key file's one line, `provledger-secret-key-v1 <hex seed>\n`, built in place in one
    /// zeroizing buffer of its final size: the hex digits are written straight from the key's
    /// own seed bytes, so no unzeroized copy (an intermediate `String`, a reallocation) is left.
    fn key_file_line(&self) -> Zeroizing<Vec<u8>> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let seed = self.inner.key.as_bytes();
        let mut line = Zeroizing::new(Vec::with_capacity(KEY_FILE_LINE_LEN));
        line.extend_from_slice(SECRET_KEY_FILE_TAG.as_bytes());
        line.push(b' ');
        for b in seed {
            line.push(DIGITS[usize::from(b >> 4)]);
            line.push(DIGITS[usize::from(b & 0x0f)]);
        }
        line.push(b'\n');
        debug_assert_eq!(line.len(), KEY_FILE_LINE_LEN, "the buffer never reallocated");
        line
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
        if meta.len() > MAX_KEY_FILE_LEN as u64 {
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
        let buf = read_small(file).map_err(io)?;
        let text = std::str::from_utf8(&buf.0[..buf.1]).map_err(|_| bad("not UTF-8 text"))?;
        let mut words = text.split_whitespace();
        if words.next() != Some(SECRET_KEY_FILE_TAG) {
            return Err(bad("missing 'provledger-secret-key-v1' tag"));
        }
        let hex = words.next().ok_or_else(|| bad("missing key"))?;
        if words.next().is_some() {
            return Err(bad("unexpected text after the key"));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        hex_decode_into(hex, seed.as_mut()).map_err(|_| bad("key must be 64 hexadecimal digits"))?;
        Ok(Self::from_seed(&seed))
    }
}

/// Length of a key file written by [`SigningKey::save`]: tag, space, 64 hex digits, newline.
const KEY_FILE_LINE_LEN: usize = SECRET_KEY_FILE_TAG.len() + 1 + 64 + 1;
/// Largest key file [`SigningKey::load`] reads (docs/FORMAT.md §12).
const MAX_KEY_FILE_LEN: usize = 256;

/// Reads a file of at most [`MAX_KEY_FILE_LEN`] bytes into a zeroizing stack buffer (no heap
/// buffer that could be reallocated, and so copied, while reading). Returns the buffer and the
/// number of bytes read; a file that grew past the bound after its size was checked is an error.
fn read_small(mut file: impl Read) -> std::io::Result<(Zeroizing<[u8; MAX_KEY_FILE_LEN]>, usize)> {
    let mut buf = Zeroizing::new([0u8; MAX_KEY_FILE_LEN]);
    let mut len = 0;
    loop {
        if len == MAX_KEY_FILE_LEN {
            let mut probe = [0u8; 1];
            if file.read(&mut probe)? != 0 {
                return Err(std::io::Error::other("key file grew while being read"));
            }
            break;
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((buf, len))
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey {{ key_id: {}, .. }}", self.key_id())
    }
}

/// Something that signs with one Ed25519 key: an in-memory [`SigningKey`], or a key kept in an
/// HSM, a cloud KMS or a signing service.
///
/// # Contract
/// A signer MUST produce **deterministic RFC 8032 pure Ed25519** signatures (no context, no
/// pre-hash, the nonce derived from the key and the message as RFC 8032 §5.1.6 says), by the
/// key [`Signer::verifying_key`] returns. The same message always gets the same 64 bytes: the
/// ledger writer derives its seal key from the signature over a fixed message
/// (docs/FORMAT.md §7.5), which is only safe, and only reproducible across opens, when signing
/// is deterministic. Signers that randomise the nonce (some HSM "EdDSA" modes, Ed25519ph,
/// Ed25519ctx) do not qualify.
///
/// A signer may fail (a remote call times out, a policy refuses): it returns a [`SignError`]
/// and never panics for it.
///
/// # An external signer
/// Any type can be a signer. Here a closure stands for the call to a remote service (it uses
/// an in-memory key to answer; a real one would send the message over the network):
///
/// ```
/// use provledger::{SignError, Signer, SigningKey, VerifyingKey};
///
/// /// A signer whose key lives elsewhere, reached through `call`.
/// struct RemoteSigner<F> {
///     public: VerifyingKey,
///     call: F,
/// }
///
/// impl<F> Signer for RemoteSigner<F>
/// where
///     F: Fn(&[u8]) -> Result<[u8; 64], SignError> + Send + Sync,
/// {
///     fn verifying_key(&self) -> VerifyingKey {
///         self.public
///     }
///     fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
///         (self.call)(message)
///     }
/// }
///
/// let hsm = SigningKey::generate()?; // stands for the key inside the HSM
/// let signer = RemoteSigner {
///     public: hsm.verifying_key(),
///     call: move |m: &[u8]| Ok(hsm.sign(m)),
/// };
/// let sigs = signer.sign_many(&[b"first", b"second"])?;
/// assert!(signer.verifying_key().verify(b"second", &sigs[1]));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub trait Signer: Send + Sync {
    /// The public key of the signing key.
    fn verifying_key(&self) -> VerifyingKey;

    /// Signs `message` (deterministic RFC 8032 Ed25519; see the trait's contract).
    ///
    /// # Errors
    /// [`SignError`] when the signer cannot or will not sign.
    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError>;

    /// Signs every message, returning the signatures in the same order. The default calls
    /// [`Signer::sign`] once per message; a remote signer can override it to sign a batch in
    /// one round trip. It either returns one signature per message or fails as a whole.
    ///
    /// # Errors
    /// The first [`SignError`] met; no signature is returned then.
    fn sign_many(&self, messages: &[&[u8]]) -> Result<Vec<[u8; SIGNATURE_LEN]>, SignError> {
        messages.iter().map(|m| self.sign(m)).collect()
    }
}

impl Signer for SigningKey {
    fn verifying_key(&self) -> VerifyingKey {
        SigningKey::verifying_key(self)
    }

    /// Never fails.
    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError> {
        Ok(SigningKey::sign(self, message))
    }
}

impl<S: Signer + ?Sized> Signer for std::sync::Arc<S> {
    fn verifying_key(&self) -> VerifyingKey {
        (**self).verifying_key()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError> {
        (**self).sign(message)
    }

    /// The shared signer's own `sign_many` (a remote signer's batching is kept).
    fn sign_many(&self, messages: &[&[u8]]) -> Result<Vec<[u8; SIGNATURE_LEN]>, SignError> {
        (**self).sign_many(messages)
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

/// A [`Signer`] could not sign.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The signer could not be reached or did not answer (network, HSM session, timeout).
    /// Retrying later may succeed.
    #[error("signer unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The signer answered and refused (permissions, key disabled, a policy of its own).
    #[error("signer refused: {0}")]
    Refused(String),
    /// The signer answered with something that is not what was asked (a signature of the wrong
    /// length, a different number of signatures than messages).
    #[error("signer answered badly: {0}")]
    BadResponse(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signing with the kept expansion gives ed25519-dalek's (RFC 8032) signature, byte for
    /// byte, for many keys and message lengths (0, one SHA-512 block boundary and beyond).
    #[test]
    fn signs_as_ed25519_dalek_does() {
        use ed25519_dalek::Signer as _;
        for k in 0u8..40 {
            let seed = [k.wrapping_mul(37).wrapping_add(1); 32];
            let ours = SigningKey::from_seed(&seed);
            let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
            for len in [0usize, 1, 55, 56, 64, 88, 111, 112, 128, 200, 1000] {
                let msg: Vec<u8> = (0..len).map(|i| (i as u8) ^ k).collect();
                assert_eq!(ours.sign(&msg), dalek.sign(&msg).to_bytes(), "key {k}, length {len}");
            }
            assert_eq!(ours.verifying_key(), VerifyingKey::wrap(dalek.verifying_key()));
        }
        // RFC 8032 §7.1, test 2: one-byte message 0x72.
        let seed: [u8; 32] = hex32("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
        let sig = SigningKey::from_seed(&seed).sign(&[0x72]);
        assert_eq!(
            sig[..32],
            hex32("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da")
        );
        assert_eq!(
            sig[32..],
            hex32("085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        );
    }

    fn hex32(h: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn save_load_round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = SigningKey::from_seed(&[7; 32]);
        key.save(&path).unwrap();
        let back = SigningKey::load(&path).unwrap();
        assert_eq!(back.to_seed(), key.to_seed());
        // The bytes on disk are exactly the documented line (FORMAT.md §12), built without a
        // reallocation.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{SECRET_KEY_FILE_TAG} {}\n", "07".repeat(32))
        );
        let line = key.key_file_line();
        assert_eq!((line.len(), line.capacity()), (KEY_FILE_LINE_LEN, KEY_FILE_LINE_LEN));
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
    fn secret_copies_handed_out_are_zeroizing() {
        // Checked by type: these do not compile if a plain array or buffer is returned.
        let key = SigningKey::from_seed(&[3; 32]);
        let seed: Zeroizing<[u8; 32]> = key.to_seed();
        let line: Zeroizing<Vec<u8>> = key.key_file_line();
        assert_eq!(*seed, [3; 32]);
        assert!(line.ends_with(b"03\n"));
        let (buf, len): (Zeroizing<[u8; MAX_KEY_FILE_LEN]>, usize) = {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("k");
            key.save(&path).unwrap();
            read_small(std::fs::File::open(&path).unwrap()).unwrap()
        };
        assert_eq!(&buf[..len], line.as_slice());
    }

    #[test]
    fn key_files_at_and_past_the_size_bound() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed(&[4; 32]);
        // Padding with whitespace up to exactly 256 bytes still loads; one byte more is refused.
        for (extra, ok) in [
            (MAX_KEY_FILE_LEN - KEY_FILE_LINE_LEN, true),
            (MAX_KEY_FILE_LEN - KEY_FILE_LINE_LEN + 1, false),
        ] {
            let path = dir.path().join(format!("k{extra}"));
            let mut body = key.key_file_line().to_vec();
            body.extend(std::iter::repeat_n(b' ', extra));
            std::fs::write(&path, &body).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            let got = SigningKey::load(&path);
            assert_eq!(got.is_ok(), ok, "{} bytes", body.len());
            if ok {
                assert_eq!(got.unwrap().to_seed(), key.to_seed());
            } else {
                assert!(matches!(got, Err(KeyError::InvalidKeyFile { .. })));
            }
        }
    }

    #[test]
    fn signing_key_is_a_signer() {
        let key = SigningKey::from_seed(&[5; 32]);
        let signer: &dyn Signer = &key;
        assert_eq!(signer.verifying_key(), key.verifying_key());
        assert_eq!(signer.sign(b"m").unwrap(), key.sign(b"m"));
        let sigs = signer.sign_many(&[b"a", b"", b"c"]).unwrap();
        assert_eq!(sigs, vec![key.sign(b"a"), key.sign(b""), key.sign(b"c")]);
        assert!(signer.sign_many(&[]).unwrap().is_empty());
    }

    /// A signer wrapping a closure, as a remote signer would: it fails on its third call.
    struct Flaky<F> {
        public: VerifyingKey,
        call: F,
    }

    impl<F: Fn(&[u8]) -> Result<[u8; SIGNATURE_LEN], SignError> + Send + Sync> Signer for Flaky<F> {
        fn verifying_key(&self) -> VerifyingKey {
            self.public
        }
        fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError> {
            (self.call)(message)
        }
    }

    #[test]
    fn an_external_signer_and_its_failures() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let inner = SigningKey::from_seed(&[6; 32]);
        let calls = AtomicUsize::new(0);
        let signer = Flaky {
            public: inner.verifying_key(),
            call: |m: &[u8]| {
                if calls.fetch_add(1, Ordering::SeqCst) == 2 {
                    return Err(SignError::Unavailable("HSM session closed".into()));
                }
                Ok(inner.sign(m))
            },
        };
        let two = signer.sign_many(&[b"x", b"y"]).unwrap();
        assert!(signer.verifying_key().verify(b"y", &two[1]));
        // The default sign_many stops at the first failure and returns no signatures.
        let err = signer.sign_many(&[b"z", b"w"]).unwrap_err();
        assert!(matches!(err, SignError::Unavailable(_)), "{err}");
        assert_eq!(err.to_string(), "signer unavailable: HSM session closed");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "sign_many stops at the failing call");
    }

    #[test]
    fn debug_hides_secret_and_weak_keys_are_refused() {
        let key = SigningKey::from_seed(&[9; 32]);
        assert!(!format!("{key:?}").contains(&hex_encode(&*key.to_seed())));
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
