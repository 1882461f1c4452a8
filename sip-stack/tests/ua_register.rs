//! The REGISTER client: digest retries, the registrar's real failure code, refresh before
//! expiry and unregistration, through two transaction layers on a virtual clock.

#[path = "ua_support.rs"]
mod support;

use cardea_sip::typed::{Authorization, CSeq, CallId, Contact, Expires};
use cardea_sip::ua::{Registration, RegistrationConfig, RegistrationEvent, RegistrationState};
use cardea_sip::HeaderName;
use support::*;

fn registration(password: &str) -> Registration {
    Registration::new(RegistrationConfig {
        registrar: uri("sip:example.com"),
        aor: addr("<sip:alice@example.com>"),
        contact: addr(r#""Alice" <sip:alice@192.0.2.1:5060;transport=udp>"#),
        expires: 3600,
        local: local(ALICE_IP),
        credentials: Some(alice_credentials(password)),
    })
}

fn events(r: &mut Registration) -> Vec<RegistrationEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn cseq(r: &cardea_sip::Request) -> u32 {
    r.headers.typed::<CSeq>().unwrap().unwrap().seq
}

fn expires(r: &cardea_sip::Request) -> u32 {
    r.headers.typed::<Expires>().unwrap().unwrap().0
}

#[test]
fn register_retries_with_digest_after_401() {
    let mut net = Net::new();
    let mut reg = registration("secret");
    let mut registrar = Registrar::new(3600, 403);
    reg.register();
    net.run(&mut reg, &mut registrar);

    assert_eq!(
        events(&mut reg),
        [
            RegistrationEvent::Registering,
            RegistrationEvent::Registered { expires: 3600 }
        ]
    );
    let [first, second] = &registrar.seen[..] else {
        panic!("expected two REGISTERs, got {}", registrar.seen.len());
    };
    assert!(!first.headers.contains(&HeaderName::Authorization));
    assert!(second.headers.typed::<Authorization>().unwrap().is_some());
    assert_eq!(
        first.headers.typed::<CallId>().unwrap(),
        second.headers.typed::<CallId>().unwrap()
    );
    assert_eq!(cseq(second), cseq(first) + 1);
    let Some(Contact::Address(c)) = second.headers.typed::<Contact>().unwrap() else {
        panic!("no Contact");
    };
    assert_eq!(c.display_name.as_deref(), Some("Alice"));
    assert_eq!(expires(second), 3600);
    assert!(matches!(
        reg.state(),
        RegistrationState::Registered { expires: 3600, .. }
    ));
}

#[test]
fn register_reports_403_when_credentials_are_wrong() {
    let mut net = Net::new();
    let mut reg = registration("wrong");
    let mut registrar = Registrar::new(3600, 403);
    reg.register();
    net.run(&mut reg, &mut registrar);

    assert_eq!(
        events(&mut reg),
        [
            RegistrationEvent::Registering,
            RegistrationEvent::Failed {
                code: 403,
                reason: "Forbidden".into()
            }
        ]
    );
    assert_eq!(registrar.seen.len(), 2, "one answer, no loop");
}

#[test]
fn register_reports_401_when_the_answer_is_challenged_again() {
    let mut net = Net::new();
    let mut reg = registration("wrong");
    let mut registrar = Registrar::new(3600, 401);
    reg.register();
    net.run(&mut reg, &mut registrar);

    assert_eq!(
        events(&mut reg).last(),
        Some(&RegistrationEvent::Failed {
            code: 401,
            reason: "Unauthorized".into()
        })
    );
    assert_eq!(registrar.seen.len(), 2);
}

#[test]
fn register_refreshes_before_expiry() {
    let mut net = Net::new();
    let mut reg = registration("secret");
    let mut registrar = Registrar::new(60, 403);
    reg.register();
    net.run(&mut reg, &mut registrar);
    assert_eq!(
        events(&mut reg).last(),
        Some(&RegistrationEvent::Registered { expires: 60 })
    );
    let registered_at = net.now;

    // 90 % of 60 s is 54 s, earlier than 60 − 5: nothing before that.
    net.advance(secs(53), &mut reg, &mut registrar);
    assert_eq!(registrar.seen.len(), 2);
    net.advance(secs(2), &mut reg, &mut registrar);
    assert_eq!(registrar.seen.len(), 3, "one refresh, already authorized");
    assert_eq!(
        reg.next_timeout(),
        Some(registered_at + secs(54) + secs(54))
    );

    let refresh = &registrar.seen[2];
    assert!(refresh.headers.typed::<Authorization>().unwrap().is_some());
    assert_eq!(
        refresh.headers.typed::<CallId>().unwrap().unwrap().0,
        reg.call_id()
    );
    assert_eq!(cseq(refresh), cseq(&registrar.seen[1]) + 1);
    assert_eq!(
        events(&mut reg),
        [RegistrationEvent::Registered { expires: 60 }],
        "a refresh does not report Registering again"
    );
}

#[test]
fn unregister_sends_expires_zero() {
    let mut net = Net::new();
    let mut reg = registration("secret");
    let mut registrar = Registrar::new(3600, 403);
    reg.register();
    net.run(&mut reg, &mut registrar);
    events(&mut reg);

    reg.unregister();
    net.run(&mut reg, &mut registrar);
    let last = registrar.seen.last().unwrap();
    assert_eq!(expires(last), 0);
    assert!(last.headers.typed::<Contact>().unwrap().is_some());
    assert_eq!(cseq(last), 3);
    assert_eq!(events(&mut reg), [RegistrationEvent::Unregistered]);
    assert_eq!(reg.state(), &RegistrationState::Unregistered);
    assert_eq!(reg.next_timeout(), None);
}
