//! The one Ed25519 verification rule, for single and batch verification alike.
//!
//! docs/FORMAT.md §3 is normative. A signature `R ‖ S` by a key `A` over a message `M` is
//! valid when `S < L`, `R` decodes to a curve point (a non-canonical encoding included), and
//! the **cofactored** equation `[8][S]B = [8]R + [8][k]A` holds, `k = SHA-512(R ‖ A ‖ M) mod L`
//! over the bytes as given: the ZIP 215 rule. Keys are validated strictly before they get
//! here (canonical, not of small order: [`VerifyingKey::from_bytes`]).
//!
//! Cofactorless single verification (ed25519-dalek's `verify_strict`) and a cofactored batch
//! equation do not accept the same signatures; with the cofactored equation for both, a batch
//! accepts exactly when every one of its signatures does (up to the batch's 2⁻¹²⁸ chance of
//! accepting a set that holds an invalid one), which is what lets an auditor check signatures
//! in batches — several times cheaper per signature — and still name the one that fails.
//!
//! * [`VerifyingKey::verify`] checks one signature;
//! * [`verify_batch`] checks a slice of [`SignatureItem`]s together and returns the indices of
//!   those that fail (by bisecting a failed batch down to single checks under the same rule);
//! * [`verify_parallel`] splits a slice into batches of [`TASK_BATCH`] and checks them on the
//!   rayon pool.
//!
//! The equation is implemented by `ed25519-zebra` (the implementation ZIP 215 was written
//! with) on the same `curve25519-dalek` as ed25519-dalek's signing, so its AVX2 and AVX-512
//! IFMA backends speed up both (README, "Build options"). Batch coefficients come from a
//! BLAKE3 stream keyed by 32 bytes of OS randomness per call.

use ed25519_zebra::batch;
use ed25519_zebra::{Signature, VerificationKey, VerificationKeyBytes};
#[cfg(any(test, feature = "test-util"))]
use rayon::prelude::*;
use zeroize::Zeroizing;

use crate::keys::{VerifyingKey, PUBLIC_KEY_LEN, SIGNATURE_LEN};

/// Signatures per batch in [`verify_parallel`]: each rayon task checks one batch of this many.
///
/// Measured with `benches/signatures.rs` (`parallel/…`): per-signature cost falls steeply up to
/// 64 and little after, while larger tasks balance worse across cores and make a failure
/// costlier to locate; see benches/README.md for the figures.
#[cfg(any(test, feature = "test-util"))]
pub const TASK_BATCH: usize = 128;

/// Failed batches of at most this many signatures are settled one signature at a time rather
/// than bisected further (a batch of one costs more than a single verification).
const BISECT_FLOOR: usize = 2;

/// Context of the BLAKE3 stream that expands the per-call OS seed into batch coefficients.
const COEFFICIENT_CONTEXT: &str = "provledger batch verification coefficients";

/// Whether `signature` is valid for `message` under `key` (docs/FORMAT.md §3).
pub(crate) fn verify_one(key: &VerifyingKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
    key.point().verify(&Signature::from_bytes(signature), message).is_ok()
}

/// The same rule for key bytes that were not validated (the ZIP 215 decoding of `A`, which
/// accepts small-order points and non-canonical encodings). Key validation is the caller's;
/// within the crate this serves the batch fallback and the test vectors.
fn verify_unvalidated(key: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
    VerificationKey::try_from(*key).is_ok_and(|k| k.verify(&Signature::from_bytes(signature), message).is_ok())
}

/// One signature to check in a batch: the signer's key, the message, the signature.
#[derive(Clone, Copy, Debug)]
pub struct SignatureItem<'a> {
    key: [u8; PUBLIC_KEY_LEN],
    message: &'a [u8],
    signature: &'a [u8; SIGNATURE_LEN],
}

impl<'a> SignatureItem<'a> {
    /// A signature by `key` over `message`.
    #[must_use]
    pub fn new(key: &VerifyingKey, message: &'a [u8], signature: &'a [u8; SIGNATURE_LEN]) -> Self {
        SignatureItem {
            key: key.to_bytes(),
            message,
            signature,
        }
    }

    /// An item whose key bytes were not validated: for checking the rule itself against the
    /// ZIP 215 vectors, whose keys key validation refuses.
    #[cfg(test)]
    pub(crate) fn unvalidated(
        key: [u8; PUBLIC_KEY_LEN],
        message: &'a [u8],
        signature: &'a [u8; SIGNATURE_LEN],
    ) -> Self {
        SignatureItem {
            key,
            message,
            signature,
        }
    }

    fn verify_alone(&self) -> bool {
        verify_unvalidated(&self.key, self.message, self.signature)
    }
}

/// The operating system's random source failed, so no batch coefficients could be drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("batch signature verification: the OS random source failed: {0}")]
pub struct RandomnessError(getrandom::Error);

/// Checks every signature in `items`; returns the indices (ascending) of those that are not
/// valid by docs/FORMAT.md §3. An empty vector means all are valid.
///
/// The items are checked as one batch; if the batch fails, it is split in halves, each checked
/// as a batch, down to single verifications, so exactly the invalid items are named. An item
/// is reported valid only when a batch containing it passed (the batch equation holds for a
/// set with an invalid signature with probability at most 2⁻¹²⁸ over the random coefficients)
/// or when it verified alone. Signatures by the same key share one point in the batch, so a
/// batch by few keys costs less per signature than one by many.
///
/// # Errors
/// [`RandomnessError`] if the OS random source fails (nothing is verified then).
pub fn verify_batch(items: &[SignatureItem<'_>]) -> Result<Vec<usize>, RandomnessError> {
    let mut rng = Coefficients::from_os()?;
    let mut failed = Vec::new();
    settle(items, 0, &mut rng, &mut failed);
    Ok(failed)
}

/// [`verify_batch`] over the rayon pool: `items` is split into batches of [`TASK_BATCH`], each
/// checked by one task. Returns the indices (ascending, into `items`) of invalid signatures.
/// For tests and benches (with `test-util`): the auditor's verifier splits its signatures into
/// batches within its own pipeline and calls [`verify_batch`] on each.
///
/// # Errors
/// [`RandomnessError`] if the OS random source fails.
#[cfg(any(test, feature = "test-util"))]
pub fn verify_parallel(items: &[SignatureItem<'_>]) -> Result<Vec<usize>, RandomnessError> {
    let per_chunk = items
        .par_chunks(TASK_BATCH)
        .enumerate()
        .map(|(c, chunk)| {
            let base = c * TASK_BATCH;
            verify_batch(chunk).map(|f| f.into_iter().map(|i| base + i).collect::<Vec<_>>())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(per_chunk.concat())
}

/// Pushes onto `failed` the indices (offset by `base`) of the invalid items of `items`.
fn settle(items: &[SignatureItem<'_>], base: usize, rng: &mut Coefficients, failed: &mut Vec<usize>) {
    if items.len() <= BISECT_FLOOR {
        failed.extend((0..items.len()).filter(|&i| !items[i].verify_alone()).map(|i| base + i));
        return;
    }
    if batch_holds(items, rng) {
        return;
    }
    let mid = items.len() / 2;
    settle(&items[..mid], base, rng, failed);
    settle(&items[mid..], base + mid, rng, failed);
}

/// The batch equation over `items` (ZIP 215: a random linear combination of the cofactored
/// equations, one point per distinct key).
fn batch_holds(items: &[SignatureItem<'_>], rng: &mut Coefficients) -> bool {
    let mut v = batch::Verifier::new();
    for it in items {
        v.queue((
            VerificationKeyBytes::from(it.key),
            Signature::from_bytes(it.signature),
            it.message,
        ));
    }
    v.verify(rng).is_ok()
}

/// The random coefficients of a batch: a BLAKE3 output stream keyed by 32 bytes from the OS.
///
/// The coefficients must be unpredictable to whoever chose the signatures; BLAKE3 in keyed XOF
/// mode is a PRF, so its stream under a fresh secret key is as good as the OS's own bytes,
/// and drawing the key is the only fallible step (a typed error, not a panic).
///
/// Public (with `test-util`) so that the benches measure raw batch verification with the same
/// coefficients the verifier pays for.
pub struct Coefficients(blake3::OutputReader);

impl Coefficients {
    /// A fresh stream keyed from the OS random source.
    ///
    /// # Errors
    /// [`RandomnessError`] if the OS random source fails.
    pub fn from_os() -> Result<Self, RandomnessError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(RandomnessError)?;
        let mut h = blake3::Hasher::new_keyed(&key);
        h.update(COEFFICIENT_CONTEXT.as_bytes());
        Ok(Coefficients(h.finalize_xof()))
    }
}

impl rand_core::RngCore for Coefficients {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for Coefficients {}

#[cfg(test)]
mod tests;
