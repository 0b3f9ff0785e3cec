//! Shared by every fuzz target: an allocation cap.
//!
//! Long runs use binaries built without a sanitizer (`cargo +nightly fuzz build -s none`,
//! about ten times faster here; the library denies `unsafe_code` outside `hash/lanes.rs`, whose
//! only `unsafe` is an AVX-512 call after feature detection and array loads and stores, so the
//! sanitizer guards mostly dependencies). libFuzzer's `-malloc_limit_mb` needs a sanitizer's allocator
//! hooks, and `-rss_limit_mb` does not see a huge allocation that is never touched, so this
//! allocator enforces the bound itself: once the bytes live at the same time would exceed
//! [`LIMIT`], the allocation fails and the process aborts ("memory allocation of N bytes
//! failed"), which libFuzzer reports as a crash with the input that caused it. A length
//! field that makes the library allocate what it claims is therefore a finding in every
//! build, sanitized or not.

use std::alloc::System;

use cap::Cap;

/// Most memory a fuzz target may hold at once. The hooks' ledgers live in memory
/// (`SimBackend`) and are small: none needs more than a few MiB.
pub const LIMIT: usize = 256 << 20;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, LIMIT);
