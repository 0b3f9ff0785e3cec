//! Generator of `ed25519.json`: the one Ed25519 verification rule of docs/FORMAT.md §3 (ZIP 215
//! equation, strict key validation where keys enter) on
//!
//! * provledger's own edge cases, crafted over the three signed messages of docs/FORMAT.md §4.5
//!   that carry signatures: a co-signature message (over the statement of entry 1 of
//!   entry.json, whose bytes the vector gives), a position message (entry 1 of entry.json at
//!   its place, position-signed by the crafting key) and a checkpoint body (the checkpoint of
//!   checkpoint.json), each with the record or fields that let a reader rebuild the message;
//! * the 12 cases of "Taming the many EdDSAs" (ed25519-speccheck), as published;
//! * the 196 small-order cases of the ZIP 215 test set, as published.
//!
//! Verdicts come from `independent.rs` (§3 written out with curve25519-dalek arithmetic), and
//! the published sets' verdicts are asserted against what their authors published, so the
//! file does not just echo the library. The `verify_strict` column is ed25519-dalek's, for
//! comparison.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use provledger::entry::{commit_payload, cosignature_message, position_message, RecordRef};
use provledger::{AuthorSignature, Digest, KeyId, LedgerId};
use sha2::Digest as _;

use crate::checkpoint_gen::checkpoint_fixture;
use crate::fixtures::{add_group_order, LEDGER_ID};
use crate::generate::entry_chain;
use crate::independent;
use crate::json::{hex, obj, J};
use crate::spec::{self, Sig};

/// The ZIP 215 set, copied from its publication (see the file's header).
const ZIP215_SET: &str = include_str!("published/zip215_small_order.txt");
/// The "Taming the many EdDSAs" cases 0–11, copied from their publication.
const SPECCHECK_SET: &str = include_str!("published/speccheck_cases.txt");
/// The message of every ZIP 215 case.
const ZIP215_MESSAGE: &[u8] = b"Zcash";

/// Published verdicts of ed25519-speccheck (README "Results"): the Zebra row (ZIP 215) ...
const SPECCHECK_ZIP215: [bool; 12] = [
    true, true, true, true, true, true, false, false, false, true, true, true,
];
/// ... and the "Dalek strict" row (`verify_strict`).
const SPECCHECK_STRICT: [bool; 12] = [
    false, false, false, true, false, false, false, false, false, false, false, false,
];
/// The condition table of ed25519-speccheck's README, one line per case.
const SPECCHECK_DESC: [&str; 12] = [
    "S = 0, small-order A and R",
    "0 < S < L, small-order A, mixed-order R",
    "0 < S < L, mixed-order A, small-order R",
    "0 < S < L, mixed-order A and R; both equations hold",
    "0 < S < L, mixed-order A and R; only the cofactored equation holds",
    "0 < S < L, mixed-order A, full-order R; fails a cofactored check that pre-reduces 8k",
    "S > L (S out of bounds), full-order A and R",
    "S >> L (S out of bounds, top bit set), full-order A and R",
    "non-canonical R, reduced before hashing",
    "non-canonical R, hashed as given",
    "non-canonical A, reduced before hashing",
    "non-canonical A, hashed as given",
];

/// Seed of the key the crafted cases sign with.
const CRAFT_SEED: [u8; 32] = [0x21; 32];

/// One vector before its verdicts are computed.
struct Case {
    desc: String,
    source: &'static str,
    public_key: [u8; 32],
    message: Vec<u8>,
    signature: [u8; 64],
    /// Fields that let a test rebuild the signed object (entry bytes, checkpoint fields).
    context: J,
}

pub(crate) fn gen_ed25519() -> J {
    let mut cases = crafted();
    cases.extend(speccheck());
    cases.extend(zip215_set());
    obj([
        (
            "desc",
            "Ed25519 verification (docs/FORMAT.md §3): the ZIP 215 rule (canonical S, A and R decoded even when \
             non-canonical, cofactored equation [8][S]B = [8]R + [8][k]A with k = SHA-512(R || A || M) mod L over the \
             bytes as given), after strict key validation where keys enter the ledger (A canonical, not of small \
             order). Single and batch verification must both give each case's verdict. Fields: public_key, message, \
             signature (hex); key_valid = A passes key validation; zip215 = the equation alone, on the bytes, without \
             key validation (what the batch and single verifiers both compute); verify_strict = ed25519-dalek's \
             verify_strict, for comparison only; want_err = our verdict: null (valid), 'InvalidPublicKey' (refused \
             at key validation, never verified) or 'Signature' (key valid, signature invalid); why = the reason. \
             source 'provledger': crafted over the messages of docs/FORMAT.md §4.5, with the fields that rebuild \
             them: context 'cosignature' (message = the co-signature message over SD = H_statement(statement) of \
             entry 1 of entry.json; statement, ledger_id, commitment, and record = that entry's record with this \
             signature as its only co-signature and no position signature), context 'position' (message = the \
             position message of entry 1 of entry.json at seq 1 after chain value prev, the entry position-signed \
             by this key alone: record, ledger_id, commitment, seq, prev, entry_hash) and context 'checkpoint' \
             (message = the body of the checkpoint of checkpoint.json: ledger_id, tree_size, root, timestamp, and \
             key_id = this key's). \
             source 'speccheck': cases 0-11 of 'Taming the many EdDSAs' (novifinancial/ed25519-speccheck). source \
             'zip215': the 196 small-order cases of the ZIP 215 test set (message 'Zcash')."
                .into(),
        ),
        ("cases", J::Arr(cases.into_iter().map(render).collect())),
    ])
}

/// A case with its computed verdicts.
fn render(c: Case) -> J {
    let key = independent::public_key(&c.public_key);
    let zip215 = independent::zip215(&c.public_key, &c.message, &c.signature);
    let strict = verify_strict(&c.public_key, &c.message, &c.signature);
    let want_err = match (&key, zip215) {
        (Err(_), _) => Some("InvalidPublicKey"),
        (Ok(_), false) => Some("Signature"),
        (Ok(_), true) => None,
    };
    let why = explain(&c, key.as_ref().err().map(String::as_str), zip215, strict);
    let mut o = obj([
        ("desc", c.desc.into()),
        ("source", c.source.into()),
        ("public_key", hex(&c.public_key)),
        ("message", hex(&c.message)),
        ("signature", hex(&c.signature)),
        ("key_valid", key.is_ok().into()),
        ("zip215", zip215.into()),
        ("verify_strict", strict.into()),
        ("want_err", want_err.into()),
        ("why", why.into()),
    ]);
    if let (J::Obj(fields), J::Obj(extra)) = (&mut o, c.context) {
        fields.extend(extra);
    }
    o
}

/// ed25519-dalek's `verify_strict` (its own key decoding: y ≥ p reduced, weak keys refused).
fn verify_strict(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    ed25519_dalek::VerifyingKey::from_bytes(pk).is_ok_and(|vk| {
        vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
    })
}

// ---------------------------------------------------------------------------------------------
// Why each case gets its verdict.

/// What the points and scalar of a case are.
struct Anatomy {
    r_point: Option<EdwardsPoint>,
    r_canonical: bool,
    s_canonical: bool,
}

fn anatomy(c: &Case) -> Anatomy {
    let r: [u8; 32] = c.signature[..32].try_into().expect("32 bytes");
    let s: [u8; 32] = c.signature[32..].try_into().expect("32 bytes");
    let r_point = independent::decode_point(&r);
    let s_scalar = Option::<Scalar>::from(Scalar::from_canonical_bytes(s));
    Anatomy {
        r_point,
        r_canonical: independent::canonical_y(&r) && r_point.is_some_and(|p| p.compress().to_bytes() == r),
        s_canonical: s_scalar.is_some(),
    }
}

fn order(p: &EdwardsPoint) -> &'static str {
    if p.is_identity() {
        "order 1"
    } else if (p + p).is_identity() {
        "order 2"
    } else if (p + p + p + p).is_identity() {
        "order 4"
    } else if independent::small_order(p) {
        "order 8"
    } else if p.is_torsion_free() {
        "prime order"
    } else {
        "mixed order"
    }
}

fn explain(c: &Case, key_error: Option<&str>, zip215: bool, strict: bool) -> String {
    let an = anatomy(c);
    let eq = if zip215 { "accepts" } else { "rejects" };
    if let Some(e) = key_error {
        let what = match independent::decode_point(&c.public_key) {
            Some(a) if !independent::canonical_y(&c.public_key) || a.compress().to_bytes() != c.public_key => {
                format!("a non-canonical encoding of a point of {}", order(&a))
            }
            Some(a) => format!("a point of {}", order(&a)),
            None => "not a curve point".into(),
        };
        return format!(
            "refused at key validation ({e}): A is {what}. Keys are validated where they enter the ledger (genesis \
             anchors, key enrollments, the auditor's trust anchor, the checkpoint key), so this signature is never \
             verified. The ZIP 215 equation alone {eq} it."
        );
    }
    if !an.s_canonical {
        return "S >= L: rejected. S must be canonical; otherwise S + L would be a second encoding of the same \
                signature (malleability)."
            .into();
    }
    let Some(r) = an.r_point else {
        return "R is not the encoding of a curve point: rejected.".into();
    };
    if !zip215 {
        return "the cofactored equation does not hold: rejected.".into();
    }
    if strict {
        return "valid: S < L and the equation holds (with or without the cofactor).".into();
    }
    let a = independent::decode_point(&c.public_key).expect("a valid key decodes");
    let mut reasons = Vec::new();
    if independent::small_order(&r) {
        reasons.push(format!(
            "R is of small order ({}), which verify_strict refuses and ZIP 215 does not. With A of large order, \
             [8][S]B = [8][k]A needs S = k * log(A) (mod L): only the holder of A's secret key can make this \
             signature, and k hashes R's bytes, so it is no variant of another signature",
            order(&r)
        ));
    }
    if !an.r_canonical {
        reasons.push(
            "R is a non-canonical encoding, which verify_strict refuses and ZIP 215 decodes. k = SHA-512(R || A || M) \
             hashes R's bytes as given, so re-encoding R changes k: nobody without A's secret key can turn a \
             signature into another valid one this way (and an honest R, a random point, has no second encoding \
             but with probability ~2^-250)"
                .into(),
        );
    }
    if !a.is_torsion_free() {
        reasons.push(
            "A is of mixed order (canonical and not of small order, so key validation accepts it, but it has a \
             small-order component). The cofactored equation holds and the cofactorless one does not: only whoever \
             built A, knowing its prime-order part's discrete log, can make such a signature, and no key derived \
             from an RFC 8032 seed has a small-order component"
                .into(),
        );
    }
    if reasons.is_empty() && !r.is_torsion_free() {
        reasons.push(
            "R has a small-order component, so only the cofactored equation holds; only the holder of A's secret \
             key can make such a signature"
                .into(),
        );
    }
    assert!(
        !reasons.is_empty(),
        "{}: accepted by ZIP 215, refused by verify_strict, yet no documented reason",
        c.desc
    );
    format!("valid under §3, unlike verify_strict: {}.", reasons.join("; "))
}

// ---------------------------------------------------------------------------------------------
// The published sets.

fn hex_bytes(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "even number of hex digits");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn data_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
}

fn speccheck() -> Vec<Case> {
    let cases: Vec<Case> = data_lines(SPECCHECK_SET)
        .enumerate()
        .map(|(i, w)| Case {
            desc: format!("Taming the many EdDSAs, case {i}: {}", SPECCHECK_DESC[i]),
            source: "speccheck",
            message: hex_bytes(w[0]),
            public_key: hex_bytes(w[1]).try_into().expect("32-byte key"),
            signature: hex_bytes(w[2]).try_into().expect("64-byte signature"),
            context: obj([("index", (i as u64).into())]),
        })
        .collect();
    assert_eq!(cases.len(), 12);
    for (i, c) in cases.iter().enumerate() {
        let zip215 = independent::zip215(&c.public_key, &c.message, &c.signature);
        assert_eq!(
            zip215, SPECCHECK_ZIP215[i],
            "speccheck case {i}: ZIP 215 verdict differs from the published one"
        );
        let strict = verify_strict(&c.public_key, &c.message, &c.signature);
        assert_eq!(
            strict, SPECCHECK_STRICT[i],
            "speccheck case {i}: verify_strict differs from the published one"
        );
    }
    cases
}

fn zip215_set() -> Vec<Case> {
    let cases: Vec<Case> = data_lines(ZIP215_SET)
        .enumerate()
        .map(|(i, w)| {
            let public_key: [u8; 32] = hex_bytes(w[0]).try_into().expect("32-byte key");
            let signature: [u8; 64] = hex_bytes(w[1]).try_into().expect("64-byte signature");
            Case {
                desc: format!(
                    "ZIP 215 small-order set, case {i}: A = {} ({}), R = {} ({}), S = 0",
                    &w[0][..8],
                    point_note(&public_key),
                    &w[1][..8],
                    point_note(&signature[..32].try_into().expect("32 bytes")),
                ),
                source: "zip215",
                public_key,
                message: ZIP215_MESSAGE.to_vec(),
                signature,
                context: obj([("index", (i as u64).into())]),
            }
        })
        .collect();
    assert_eq!(cases.len(), 196);
    for c in &cases {
        // Published: every case is valid under ZIP 215, and none passes key validation.
        assert!(
            independent::zip215(&c.public_key, &c.message, &c.signature),
            "{}",
            c.desc
        );
        assert!(independent::public_key(&c.public_key).is_err(), "{}", c.desc);
    }
    cases
}

fn point_note(b: &[u8; 32]) -> String {
    let p = independent::decode_point(b).expect("the published points decode");
    let canonical = independent::canonical_y(b) && p.compress().to_bytes() == *b;
    format!("{}{}", order(&p), if canonical { "" } else { ", non-canonical" })
}

// ---------------------------------------------------------------------------------------------
// Crafted cases over provledger's own messages.

fn k_of(r: &[u8; 32], a: &[u8; 32], m: &[u8]) -> Scalar {
    let h: [u8; 64] = sha2::Sha512::new()
        .chain_update(r)
        .chain_update(a)
        .chain_update(m)
        .finalize()
        .into();
    Scalar::from_bytes_mod_order_wide(&h)
}

fn sig_of(r: &[u8; 32], s: &Scalar) -> [u8; 64] {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// The identity point's encoding with y = p + 1: a non-canonical encoding of a small-order R.
fn identity_y_p_plus_1() -> [u8; 32] {
    let mut b = [0xffu8; 32];
    b[0] = 0xee;
    b[31] = 0x7f;
    b
}

/// A crafted signature: (description, public key, message, signature).
type Crafted = (&'static str, [u8; 32], Vec<u8>, [u8; 64]);

/// The signatures crafted over the message `m(A)` of each key A, as (description, public key,
/// message, signature). A position message depends on the signer's key (the entry hash covers
/// the position signer's key id); the other messages do not.
fn crafted_signatures(m: impl Fn(&[u8; 32]) -> Vec<u8>) -> Vec<Crafted> {
    let sk = ed25519_dalek::SigningKey::from_bytes(&CRAFT_SEED);
    let a = sk.to_scalar();
    let pk = sk.verifying_key().to_bytes();
    let msg = m(&pk);
    let honest = {
        use ed25519_dalek::Signer as _;
        sk.sign(&msg).to_bytes()
    };
    let small_r = |r: [u8; 32]| sig_of(&r, &(k_of(&r, &pk, &msg) * a));
    let t8 = EIGHT_TORSION[1];
    assert_eq!(order(&t8), "order 8");

    let mut s_plus_l = honest;
    add_group_order(&mut s_plus_l);
    let mut r_plus_t = honest;
    let r = CompressedEdwardsY(honest[..32].try_into().expect("32 bytes"))
        .decompress()
        .expect("an honest R decodes");
    r_plus_t[..32].copy_from_slice((r + t8).compress().as_bytes());

    // A mixed-order key: the crafting key's point plus a point of order 8. A signature made
    // with the prime-order part's secret satisfies only the cofactored equation unless k is a
    // multiple of 8; pick the nonce so that it is not.
    let mixed = (EdwardsPoint::mul_base(&a) + t8).compress().to_bytes();
    let mixed_msg = m(&mixed);
    let mixed_sig = (0u8..)
        .map(|i| {
            let nonce = Scalar::from_bytes_mod_order_wide(
                &sha2::Sha512::new()
                    .chain_update(b"provledger ed25519 vector nonce")
                    .chain_update([i])
                    .chain_update(&mixed_msg)
                    .finalize()
                    .into(),
            );
            let r = EdwardsPoint::mul_base(&nonce).compress().to_bytes();
            let k = k_of(&r, &mixed, &mixed_msg);
            (k, sig_of(&r, &(nonce + k * a)))
        })
        .find(|(k, _)| k.as_bytes()[0] % 8 != 0)
        .map(|(_, s)| s)
        .expect("some nonce gives k not divisible by 8");

    let other = {
        use ed25519_dalek::Signer as _;
        sk.sign(b"another message").to_bytes()
    };
    vec![
        ("an honest RFC 8032 signature", pk, msg.clone(), honest),
        (
            "R = the identity point (small order), S = k * a",
            pk,
            msg.clone(),
            small_r(EdwardsPoint::default().compress().to_bytes()),
        ),
        (
            "R = a point of order 8, S = k * a",
            pk,
            msg.clone(),
            small_r(t8.compress().to_bytes()),
        ),
        (
            "R = the identity point encoded non-canonically (y = p + 1), S = k * a over those bytes",
            pk,
            msg.clone(),
            small_r(identity_y_p_plus_1()),
        ),
        (
            "an honest signature with S replaced by S + L",
            pk,
            msg.clone(),
            s_plus_l,
        ),
        (
            "an honest signature with a point of order 8 added to R (a third party's attempt to make a second \
             valid signature)",
            pk,
            msg.clone(),
            r_plus_t,
        ),
        ("an honest signature over another message", pk, msg, other),
        (
            "a mixed-order key (the crafting key's point plus a point of order 8) and a signature made with the \
             prime-order part's secret, k not a multiple of 8",
            mixed,
            mixed_msg,
            mixed_sig,
        ),
    ]
}

fn lib_sig(pk: &[u8; 32], signature: [u8; 64]) -> AuthorSignature {
    AuthorSignature {
        key_id: KeyId(Digest::from_bytes(independent::key_id(pk))),
        signature,
    }
}

fn crafted() -> Vec<Case> {
    let mut cases = Vec::new();
    // Entry 1 of entry.json: its statement and fields, at its place (seq 1, after entry 0).
    let chain = entry_chain();
    let base = &chain[1].1;
    assert_eq!(base.seq, 1);
    let fields = base.spec.fields();
    let (id, c) = (LedgerId(LEDGER_ID), Digest::from_bytes(base.commitment));
    assert_eq!(commit_payload(&base.spec.salt, &base.spec.payload), c);

    // Co-signatures: over "provledger v2 statement\0" ‖ SD, in a record whose only signature
    // is this co-signature (an application entry needs no position signature).
    let cosig_msg = spec::cosignature_message(&base.statement_digest);
    for (what, pk, msg, sig) in crafted_signatures(|_| cosig_msg.clone()) {
        let record = fields.record(
            None,
            &[Sig {
                key_id: independent::key_id(&pk),
                signature: sig,
            }],
        );
        let r = RecordRef::parse(&record).expect("the library decodes the record");
        assert_eq!(r.statement(id, &c), base.statement, "statement");
        assert_eq!(cosignature_message(&r.statement_digest(id, &c)).to_vec(), msg);
        assert_eq!(r.cosignatures().collect::<Vec<_>>(), [lib_sig(&pk, sig)]);
        cases.push(Case {
            desc: format!("co-signature: {what}"),
            source: "provledger",
            public_key: pk,
            message: msg,
            signature: sig,
            context: obj([
                ("context", "cosignature".into()),
                ("ledger_id", hex(&LEDGER_ID)),
                ("statement", hex(&base.statement)),
                ("commitment", hex(&base.commitment)),
                ("record", hex(&record)),
            ]),
        });
    }

    // Position signatures: over "provledger v2 position\0" ‖ L_0 ‖ E_1, the entry
    // position-signed by the case's key alone (E_1 covers that key's id).
    let entry_hash = |pk: &[u8; 32]| {
        let authorship = spec::authorship(Some(&independent::key_id(pk)), &[]);
        spec::entry_hash(base.seq, &base.statement, &authorship)
    };
    for (what, pk, msg, sig) in crafted_signatures(|pk| spec::position_message(&base.prev, &entry_hash(pk))) {
        let e = entry_hash(&pk);
        let record = fields.record(
            Some(&Sig {
                key_id: independent::key_id(&pk),
                signature: sig,
            }),
            &[],
        );
        let r = RecordRef::parse(&record).expect("the library decodes the record");
        let lib_e = r.entry_hash(base.seq, id, &c);
        assert_eq!(lib_e.to_bytes(), e, "entry hash");
        assert_eq!(position_message(&Digest::from_bytes(base.prev), &lib_e).to_vec(), msg);
        assert_eq!(r.position(), Some(lib_sig(&pk, sig)));
        cases.push(Case {
            desc: format!("position signature: {what}"),
            source: "provledger",
            public_key: pk,
            message: msg,
            signature: sig,
            context: obj([
                ("context", "position".into()),
                ("ledger_id", hex(&LEDGER_ID)),
                ("commitment", hex(&base.commitment)),
                ("record", hex(&record)),
                ("seq", base.seq.into()),
                ("prev", hex(&base.prev)),
                ("entry_hash", hex(&e)),
            ]),
        });
    }

    // Checkpoints: over the body of the checkpoint of checkpoint.json.
    let cp = checkpoint_fixture();
    let body = spec::checkpoint_body(&LEDGER_ID, cp.size, &cp.root, cp.time);
    for (what, pk, msg, sig) in crafted_signatures(|_| body.as_bytes().to_vec()) {
        cases.push(Case {
            desc: format!("checkpoint signature: {what}"),
            source: "provledger",
            public_key: pk,
            message: msg,
            signature: sig,
            context: obj([
                ("context", "checkpoint".into()),
                ("ledger_id", hex(&LEDGER_ID)),
                ("tree_size", cp.size.into()),
                ("root", hex(&cp.root)),
                ("timestamp", cp.time.into()),
                ("key_id", hex(&independent::key_id(&pk))),
            ]),
        });
    }
    cases
}
