//! TLS for the SIP endpoint: SIP over TLS (RFC 3261 §26.2; RFC 5630 §3.1: TLS hop by hop,
//! announced as `transport=tls` on a `sip:` URI) and the TLS under secure WebSocket
//! (RFC 7118 §5, `wss`). Loads the configured certificate, accepts connections with a
//! bounded handshake, and hands axum a listener of finished TLS streams for WSS.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A client that has not finished its handshake by then is dropped (a stalled handshake
/// must not hold a connection open forever).
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
/// Finished WSS handshakes waiting for axum to take them.
const WSS_BACKLOG: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("sip.tls_cert {path}: {message}")]
    Cert { path: String, message: String },
    #[error("sip.tls_key {path}: {message}")]
    Key { path: String, message: String },
    #[error("sip.tls_cert {cert} and sip.tls_key {key}: {message}")]
    Pair {
        cert: String,
        key: String,
        message: String,
    },
}

/// A server configuration from a PEM certificate chain (leaf first) and its PEM private key,
/// with the aws-lc-rs provider (the one str0m builds: no second crypto backend), TLS 1.2
/// and 1.3, no client certificates.
pub fn server_config(cert: &str, key: &str) -> Result<ServerConfig, TlsError> {
    let cert_error = |message: String| TlsError::Cert {
        path: cert.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no PEM CERTIFICATE in the file".into()));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        message: e.to_string(),
    })?;
    let pair_error = |message: String| TlsError::Pair {
        cert: cert.to_owned(),
        key: key.to_owned(),
        message,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| pair_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| pair_error(e.to_string()))
}

/// The acceptors for SIP over TLS and for WSS (the latter offers ALPN `http/1.1`, the only
/// HTTP a WebSocket upgrade uses here), from `sip.tls_cert` and `sip.tls_key`.
pub(super) fn acceptors(cert: &str, key: &str) -> io::Result<(TlsAcceptor, TlsAcceptor)> {
    let sip = server_config(cert, key).map_err(io::Error::other)?;
    let mut wss = sip.clone();
    wss.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((
        TlsAcceptor::from(Arc::new(sip)),
        TlsAcceptor::from(Arc::new(wss)),
    ))
}

/// Accepts TCP connections on `listener`, runs each TLS handshake in its own task (bounded
/// by [`HANDSHAKE_WITHIN`]) and hands the finished stream to `serve`. A failed handshake
/// (a client speaking plain SIP or garbage to the TLS port) closes only that connection.
pub(super) async fn accept<F, Fut>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    what: &'static str,
    serve: F,
) where
    F: Fn(TlsStream<TcpStream>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let serve = Arc::new(serve);
    loop {
        match listener.accept().await {
            Ok((tcp, from)) => {
                let acceptor = acceptor.clone();
                let serve = Arc::clone(&serve);
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    match tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => serve(stream, from).await,
                        Ok(Err(e)) => tracing::debug!(%from, "{what} TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%from, "{what} TLS handshake timed out"),
                    }
                });
            }
            Err(e) => {
                tracing::warn!("{what} accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What axum serves WSS from: TLS streams whose handshake already finished (in tasks of
/// their own, so one slow client does not hold up the others).
pub(super) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `listener` with `acceptor`.
    pub(super) fn spawn(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(WSS_BACKLOG);
        tokio::spawn(accept(
            listener,
            acceptor,
            "SIP WSS",
            move |stream, from| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((stream, from)).await;
                }
            },
        ));
        Ok(Self { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept task never ends while the runtime runs.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Where the system keeps its trusted CAs (Debian's ca-certificates): trusted for TLS toward
/// SIP peers when `sip.tls_ca` is not set.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The connector for SIP over TLS toward peers (trunks, and whatever a SIP plugin handle
/// calls over `transport=tls`): the peer's certificate must chain to a CA of `ca` (a PEM
/// bundle; the system's when `None`) and name the host we connect to (RFC 5922: its DNS
/// name, or its IP address in a subjectAltName when we only know the address).
pub fn connector(ca: Option<&str>) -> Result<tokio_rustls::TlsConnector, String> {
    let path = ca.unwrap_or(SYSTEM_CA_BUNDLE);
    let mut roots = rustls::RootCertStore::empty();
    let certs = match CertificateDer::pem_file_iter(path) {
        Ok(certs) => certs.collect::<Result<Vec<_>, _>>(),
        Err(e) if ca.is_none() => {
            // No system bundle: TLS toward peers fails to verify until sip.tls_ca is set.
            tracing::info!(
                "no CA bundle at {path} ({e}): set sip.tls_ca for SIP over TLS to peers"
            );
            Ok(Vec::new())
        }
        Err(e) => return Err(format!("sip.tls_ca {path}: {e}")),
    }
    .map_err(|e| format!("sip.tls_ca {path}: {e}"))?;
    for cert in certs {
        // A bundle may hold certificates rustls cannot use as anchors; skip those.
        let _ = roots.add(cert);
    }
    if ca.is_some() && roots.is_empty() {
        return Err(format!("sip.tls_ca {path}: no usable CA certificate"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Connects to `to` over TCP and runs the TLS handshake, checking the certificate against
/// `name` (a DNS name) or, without one, the address; bounded by [`HANDSHAKE_WITHIN`].
pub(super) async fn connect(
    connector: &tokio_rustls::TlsConnector,
    to: SocketAddr,
    name: Option<&str>,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls::pki_types::ServerName;
    let server_name = match name {
        Some(n) => ServerName::try_from(n.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
        None => ServerName::IpAddress(to.ip().into()),
    };
    let handshake = async {
        let tcp = TcpStream::connect(to).await?;
        let _ = tcp.set_nodelay(true);
        connector.connect(server_name, tcp).await
    };
    tokio::time::timeout(HANDSHAKE_WITHIN, handshake)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS connect timed out"))?
}
