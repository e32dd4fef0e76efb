//! Email over SMTP (lettre): STARTTLS by default, implicit TLS, or none (then never with a
//! password). The server's name is resolved and checked by the SSRF guard and the connection
//! goes to that checked address; TLS still verifies the certificate for the name.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mandate_store::notifications::channels::Channel;
use mandate_store::notifications::deliveries::Delivery;

use crate::notifications::channel_config::Secrets;
use crate::state::AppState;

const TIMEOUT: Duration = Duration::from_secs(20);

pub async fn send(
    app: &AppState,
    channel: &Channel,
    secrets: &Secrets,
    delivery: &Delivery,
) -> Result<(), String> {
    let s = &channel.settings;
    let host = s["smtpHost"]
        .as_str()
        .ok_or("the channel has no SMTP host")?;
    let port = s["smtpPort"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("the channel has no SMTP port")?;
    let addr = app
        .egress
        .resolve(host, port)
        .await
        .map_err(|e| e.to_string())?;
    let tls = match s["smtpTls"].as_str() {
        Some("none") => Tls::None,
        Some("tls") => Tls::Wrapper(tls_parameters(app, host)?),
        _ => Tls::Required(tls_parameters(app, host)?),
    };
    let mut transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
            .port(addr.port())
            .tls(tls)
            .timeout(Some(TIMEOUT))
            .hello_name(ClientId::Domain(hello_name(app)));
    if let (Some(user), Some(password)) = (s["smtpUsername"].as_str(), &secrets.smtp_password) {
        transport = transport.credentials(Credentials::new(user.to_string(), password.clone()));
    }
    let (title, text) = super::notice_text(delivery)?;
    let mailbox = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|_| format!("`{a}` is not a mail address"))
    };
    let mut message = Message::builder()
        .from(mailbox(
            s["from"].as_str().ok_or("the channel has no sender")?,
        )?)
        .subject(format!("[Mandate] {title}"))
        .header(ContentType::TEXT_PLAIN);
    for to in s["to"].as_array().into_iter().flatten() {
        message = message.to(mailbox(to.as_str().unwrap_or_default())?);
    }
    let message = message.body(text).map_err(|e| e.to_string())?;
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        // lettre's errors name the server and the SMTP reply, never the password.
        .map_err(|e| format!("SMTP {host}:{port}: {e}"))
}

/// TLS for `host`, trusting the system's roots and `EGRESS_CA_FILE`'s.
fn tls_parameters(app: &AppState, host: &str) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(path) = &app.config.egress_ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("reading EGRESS_CA_FILE: {e}"))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| format!("EGRESS_CA_FILE: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| e.to_string())
}

/// The name given in EHLO: PUBLIC_URL's host, else a neutral one.
fn hello_name(app: &AppState) -> String {
    app.config
        .public_url
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or("mandate.localdomain")
        .to_string()
}
