//! GM (商用密码) transport for medspace: a TLS 1.3 listener and client that speak only
//! `TLS_SM4_GCM_SM3` with SM2 key exchange (`curveSM2`), SM2-with-SM3 signatures (`sm2sig_sm3`)
//! and an SM2 certificate, as RFC 8998 specifies, over Tongsuo.
//!
//! 数字医疗网络数据安全管理规范 6.2.2 (national algorithms SM2/SM4 protect data in transit) and
//! 7.2.4 (TLS 1.2 or later: this listener is TLS 1.3 only); T/CI 857-2024 7.2 (the node's identity
//! at the space boundary is an SM2 certificate here).
//!
//! Everything real sits behind the cargo feature `gm-tls`, which builds Tongsuo from source
//! (the `tongsuo` crate's default feature; a C compiler, make and perl are needed). Without the
//! feature this crate compiles to [`ENABLED`]` = false` and nothing else: there is no fallback
//! that would pretend to speak GM TLS.
#![deny(missing_docs)]

/// Whether this build carries the GM TLS implementation (the `gm-tls` cargo feature).
pub const ENABLED: bool = cfg!(feature = "gm-tls");

/// The one cipher suite the GM listener negotiates (RFC 8998 §3.1, code point 0x00C6).
pub const CIPHER_SUITE: &str = "TLS_SM4_GCM_SM3";

/// The key exchange group (RFC 8998 §3.2, `curveSM2`, code point 41).
pub const GROUP: &str = "curveSM2";

/// The signature scheme (RFC 8998 §3.3, `sm2sig_sm3`, code point 0x0708).
pub const SIGNATURE_SCHEME: &str = "sm2sig_sm3";

/// What a build without the feature says when asked for the GM listener.
pub const DISABLED_MESSAGE: &str = "this medspace build has no GM TLS (RFC 8998) support: \
    rebuild with the cargo feature `gm-tls` (medspace-server/gm-tls), which builds Tongsuo";

#[cfg(feature = "gm-tls")]
mod imp;

#[cfg(feature = "gm-tls")]
pub use imp::{
    generate_sm2_self_signed, GmReplacement, GmTlsAcceptor, GmTlsConnector, GmTlsError,
    GmTlsStream, Negotiated,
};
