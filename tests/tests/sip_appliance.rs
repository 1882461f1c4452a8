//! The appliance's routing, driven by SIPp (which shares no code with Cardea): local users
//! dial out through trunks chosen by the YAML dialplan, with the number rewritten and
//! failover from a silent trunk to the next; nobody unauthenticated reaches a trunk, and a
//! trunk does not reach another one unless a rule says so; a dialplan reload (Admin API and
//! SIGHUP) during a call keeps the call, refuses a broken file naming its line, and the next
//! call follows the new rules; every finished call leaves a call record.
//!
//! Addresses: Cardea listens on 127.0.0.1; alice's SIPp runs there too. The trunks live on
//! 127.0.0.3 (`carrier` on a port nobody answers, `backup` on a SIPp UAS); calls *from*
//! `carrier` come from 127.0.0.2 (its `inbound` address), all on loopback.
//!
//! `sipp` must be on PATH (`apt-get install sip-tester`). Every SIPp run is bounded by its own
//! `-timeout … -timeout_error` and a kill from here.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cardea_tests::sipp::{self, Sipp, SippArgs, Transport, TRACE_SEPARATOR};
use cardea_tests::{Cardea, JanusHttp};
use serde_json::{json, Value};

const ADMIN_SECRET: &str = "appliance-admin";
const SIPP_TIMEOUT: &str = "20s";
const SIPP_RECV_TIMEOUT: &str = "10s";
const SIPP_KILL_AFTER: Duration = Duration::from_secs(30);
/// The silent trunk's `no_answer`: how long before the call moves to the next trunk.
const NO_ANSWER: Duration = Duration::from_secs(1);

/// alice may dial abroad; intern may not.
const DIALPLAN: &str = r#"
rules:
  - name: international
    from: local
    to: { pattern: "_900X." }
    require_group: international
    rewrite: { strip: 3, prepend: "+" }
    caller_id: { number: "+15550100$0", name: "Cardea Support" }
    action: { trunk: [carrier, backup] }
  - name: outbound
    from: local
    to: { pattern: "_9X." }
    rewrite: { strip: 1 }
    action: { trunk: [carrier, backup] }
"#;

/// After the reload: the trunks are closed for everyone.
const CLOSED: &str = r#"
rules:
  - name: closed
    to: { pattern: "_9X." }
    action: { reject: { code: 403, reason: "Forbidden - outbound calls are closed" } }
"#;

/// A file the loader must refuse: line 4 has a key no rule takes.
const BROKEN: &str = "rules:\n  - name: typo\n    to: \"1\"\n    actoin: echo\n";

const ABROAD: &str = "90044207946000";
const ABROAD_AS_SENT: &str = "+44207946000";

/// The cases run one at a time (each starts SIPp runs on fixed roles and waits on timing).
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

struct Appliance {
    cardea: Cardea,
    dir: PathBuf,
    dialplan: PathBuf,
    live_port: u16,
    sipps: Vec<Sipp>,
    problems: Vec<String>,
}

impl Appliance {
    fn start(name: &str) -> Appliance {
        let dir = sipp::scratch_dir(name);
        let dialplan = dir.join("dialplan.yaml");
        std::fs::write(&dialplan, DIALPLAN).expect("writing the dialplan");
        let live_port = sipp::free_port(None);
        let dead_port = sipp::free_port(Some(live_port));
        let yaml = format!(
            "\
sip:
  bind: 127.0.0.1
  udp_port: 0
  tcp_port: 0
  realm: cardea.test
  users:
    - username: alice
      password: alicepw
      groups: [international]
    - username: intern
      password: internpw
  trunks:
    - name: carrier
      uri: \"sip:127.0.0.3:{dead_port}\"
      inbound: [127.0.0.2]
      no_answer: {}
      probe: 0
    - name: backup
      uri: \"sip:127.0.0.3:{live_port}\"
      inbound: [127.0.0.4]
      probe: 0
  dialplan: {}
",
            NO_ANSWER.as_secs(),
            dialplan.display()
        );
        let cardea = Cardea::start_with(&[("admin_secret", ADMIN_SECRET)], &yaml);
        Appliance {
            cardea,
            dir,
            dialplan,
            live_port,
            sipps: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Starts a scenario toward Cardea from `ip`, on `port` (a free one when `None`).
    fn sipp(
        &mut self,
        role: &'static str,
        scenario: &str,
        ip: &str,
        port: Option<u16>,
        auth_uri: &str,
        extra: &[&str],
    ) -> usize {
        let target = sipp::sip_listener(&self.cardea, Transport::Udp);
        let port = port.unwrap_or_else(|| sipp::free_port(Some(self.live_port)));
        let mut args = vec!["-i", ip];
        args.extend_from_slice(extra);
        let run = SippArgs {
            role,
            scenario,
            dir: &self.dir,
            transport: Transport::Udp,
            port,
            auth_uri,
            call_id: None,
            no_default_bye: true,
            timeout: SIPP_TIMEOUT,
            recv_timeout: SIPP_RECV_TIMEOUT,
            kill_after: SIPP_KILL_AFTER,
            target: &target,
        }
        .spawn_with(&args);
        self.sipps.push(run);
        self.sipps.len() - 1
    }

    /// The backup trunk: a UAS on 127.0.0.3 answering one call.
    fn backup_trunk(&mut self) -> usize {
        let port = self.live_port;
        let i = self.sipp(
            "backup",
            "appliance_trunk_uas",
            "127.0.0.3",
            Some(port),
            "",
            &[],
        );
        std::thread::sleep(Duration::from_millis(300));
        i
    }

    /// alice (or `user`) dials `number` with scenario `scenario`.
    fn dial(
        &mut self,
        user: &str,
        password: &str,
        scenario: &str,
        number: &str,
        pause_ms: u32,
    ) -> usize {
        let auth_uri = format!("{number}@cardea.test");
        let pause = pause_ms.to_string();
        self.sipp(
            "alice",
            scenario,
            "127.0.0.1",
            None,
            &auth_uri,
            &["-s", number, "-au", user, "-ap", password, "-d", &pause],
        )
    }

    fn finished(&mut self, i: usize, what: &str) -> bool {
        self.sipps[i].wait();
        if !self.sipps[i].succeeded() {
            self.problems
                .push(format!("{what}: SIPp {} failed", self.sipps[i].scenario()));
            return false;
        }
        true
    }

    async fn admin(&self, body: Value) -> Value {
        let admin = JanusHttp::new(format!("http://{}/admin", self.cardea.listeners.admin_http));
        let mut body = body;
        body["admin_secret"] = json!(ADMIN_SECRET);
        admin.post("", body).await
    }

    fn check(&mut self, ok: bool, problem: impl Into<String>) {
        if !ok {
            self.problems.push(problem.into());
        }
    }

    /// Panics with every SIPp run's trace and Cardea's log when a check failed.
    fn finish(mut self, name: &str) {
        if let Some(status) = self.cardea.exited() {
            self.problems.push(format!("cardea exited ({status})"));
        }
        if self.problems.is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
            return;
        }
        let mut report = format!(
            "=== {name} (files in {}): {}\n",
            self.dir.display(),
            self.problems.join("; ")
        );
        for s in &self.sipps {
            report.push_str(&s.describe());
        }
        report.push_str("--- cardea's log:\n");
        report.push_str(&self.cardea.logs().join("\n"));
        panic!("{report}");
    }
}

/// The requests in a trace whose first line starts with `start`.
fn requests<'a>(trace: &'a str, start: &str) -> Vec<&'a str> {
    trace
        .split(TRACE_SEPARATOR)
        .filter(|m| {
            m.lines()
                .find(|l| l.starts_with("SIP/2.0 ") || l.contains(" sip:"))
                .is_some_and(|l| l.starts_with(start))
        })
        .collect()
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    message
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_trunk_fails_over_to_the_next_with_the_number_rewritten() {
    let _one = one_at_a_time().await;
    let mut a = Appliance::start("appliance-failover");
    let backup = a.backup_trunk();
    let started = Instant::now();
    let alice = a.dial("alice", "alicepw", "appliance_uac_dial", ABROAD, 200);
    let alice_ok = a.finished(alice, "alice's call abroad");
    let took = started.elapsed();
    a.finished(backup, "the backup trunk's call");
    let trace = a.sipps[backup].messages();
    let invites = requests(&trace, "INVITE ");
    match invites.first() {
        Some(invite) => {
            let expected = format!("INVITE sip:{ABROAD_AS_SENT}@127.0.0.3:{}", a.live_port);
            a.check(
                invite.lines().any(|l| l.starts_with(&expected)),
                format!("the backup trunk should get `{expected}` (900 stripped, + put in front): {invite}"),
            );
            let from = header(invite, "From").unwrap_or("").to_owned();
            // caller_id.number is "+15550100$0" over the caller's number (here "alice").
            a.check(
                from.contains("\"Cardea Support\"") && from.contains("sip:+15550100alice@"),
                format!("the caller ID rule should show in From: {from}"),
            );
            let pai = header(invite, "P-Asserted-Identity")
                .unwrap_or("")
                .to_owned();
            a.check(
                pai.contains("+15550100alice"),
                format!("P-Asserted-Identity should carry the caller ID: {pai:?}"),
            );
        }
        None => a.problems.push("the backup trunk got no INVITE".into()),
    }
    // One silent period, then the backup answers at once.
    a.check(
        !alice_ok || (took >= NO_ANSWER && took < NO_ANSWER + Duration::from_secs(3)),
        format!(
            "the call should move to the backup after {NO_ANSWER:?} of silence, it took {took:?}"
        ),
    );
    eprintln!("failover: call set up and ended in {took:?} (no_answer {NO_ANSWER:?})");
    a.finish("failover");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_unauthenticated_reaches_a_trunk() {
    let _one = one_at_a_time().await;
    let mut a = Appliance::start("appliance-no-relay");
    let backup = a.backup_trunk();
    // An unknown caller: challenged, never routed.
    let stranger = a.sipp(
        "stranger",
        "appliance_uac_challenged",
        "127.0.0.1",
        None,
        "",
        &["-s", "95551234"],
    );
    a.finished(stranger, "the unauthenticated caller");
    // The carrier trunk itself: trusted, but no rule lets a trunk dial out again.
    let carrier = a.sipp(
        "carrier",
        "appliance_uac_not_found",
        "127.0.0.2",
        None,
        "",
        &["-s", "95551234"],
    );
    a.finished(carrier, "the trunk dialling out");
    // An intern may dial locally out but not abroad (require_group).
    let intern = a.dial("intern", "internpw", "appliance_uac_forbidden", ABROAD, 200);
    a.finished(intern, "the intern dialling abroad");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let trace = a.sipps[backup].messages();
    let invites = requests(&trace, "INVITE ");
    a.check(
        invites.is_empty(),
        format!("no INVITE may reach a trunk in this test: {invites:?}"),
    );
    a.finish("no open relay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_a_call_keeps_it_and_the_next_call_follows_the_new_rules() {
    let _one = one_at_a_time().await;
    let mut a = Appliance::start("appliance-reload");
    let backup = a.backup_trunk();
    // A 3 s call through the backup trunk.
    let alice = a.dial("alice", "alicepw", "appliance_uac_dial", "95551234", 3000);
    tokio::time::sleep(Duration::from_millis(NO_ANSWER.as_millis() as u64 + 800)).await;

    // A broken file is refused, naming its line; the rules in force stay.
    std::fs::write(&a.dialplan, BROKEN).unwrap();
    let refused = a.admin(json!({"janus": "reload_routing"})).await;
    let reason = refused["error"]["reason"].as_str().unwrap_or("").to_owned();
    let file_line = format!("{}:4", a.dialplan.display());
    a.check(
        refused["janus"] == "error" && reason.contains(&file_line) && reason.contains("actoin"),
        format!("a broken dialplan is refused naming {file_line} and the key: {refused}"),
    );
    // A good one is taken while the call goes on.
    std::fs::write(&a.dialplan, CLOSED).unwrap();
    let reloaded = a.admin(json!({"janus": "reload_routing"})).await;
    a.check(
        reloaded["janus"] == "success",
        format!("reload_routing should succeed: {reloaded}"),
    );
    a.finished(alice, "the call across the reload");
    a.finished(backup, "the backup trunk's call across the reload");

    // The next call meets the new rule.
    let again = a.dial(
        "alice",
        "alicepw",
        "appliance_uac_forbidden",
        "95551234",
        200,
    );
    a.finished(again, "the call after the reload (403 expected)");

    // SIGHUP reloads too: back to the first dialplan, and a third call goes out again.
    std::fs::write(&a.dialplan, DIALPLAN).unwrap();
    let pid = a.cardea.pid().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status();
    a.check(
        hup.is_ok_and(|s| s.success()),
        "kill -HUP cardea should succeed",
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while !a
        .cardea
        .logs()
        .iter()
        .any(|l| l.contains("SIGHUP: SIP routing reloaded"))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let backup = a.backup_trunk();
    let third = a.dial("alice", "alicepw", "appliance_uac_dial", "95551234", 200);
    a.finished(third, "the call after SIGHUP");
    a.finished(backup, "the backup trunk's call after SIGHUP");

    // Call records: the first call (answered, alice hung up), the refused one.
    let records = a.admin(json!({"janus": "list_call_records"})).await;
    let list = records["call_records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    eprintln!(
        "call records: {}",
        serde_json::to_string_pretty(&list).unwrap_or_default()
    );
    let first = list.iter().find(|r| r["rule"] == "outbound");
    match first {
        Some(r) => a.check(
            r["origin"] == "user:alice"
                && r["dialled"] == "95551234"
                && r["number"] == "5551234"
                && r["answered"].is_u64()
                && r["end_reason"] == "BYE from the caller"
                && r["route"]["trunks"] == json!(["carrier", "backup"])
                && r["duration_seconds"].as_f64().is_some_and(|d| d >= 2.5),
            format!("the first call's record: {r}"),
        ),
        None => a
            .problems
            .push(format!("no record of the first call: {records}")),
    }
    a.finish("reload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cardea_registers_with_a_trunk_that_wants_it() {
    let _one = one_at_a_time().await;
    let registrar_port = sipp::free_port(None);
    let yaml = format!(
        "\
sip:
  bind: 127.0.0.1
  udp_port: 0
  tcp_port: 0
  realm: cardea.test
  trunks:
    - name: carrier
      uri: \"sip:127.0.0.3:{registrar_port}\"
      probe: 0
      register:
        username: alice
        password: alicepw
        domain: sipp.test
        expires: 300
"
    );
    let dir = sipp::scratch_dir("appliance-trunk-register");
    // The carrier's registrar (digest as alice / alicepw, realm sipp.test), on 127.0.0.3.
    let registrar = SippArgs {
        role: "registrar",
        scenario: "plugin_registrar",
        dir: &dir,
        transport: Transport::Udp,
        port: registrar_port,
        auth_uri: "",
        call_id: None,
        no_default_bye: true,
        timeout: SIPP_TIMEOUT,
        recv_timeout: SIPP_RECV_TIMEOUT,
        kill_after: SIPP_KILL_AFTER,
        target: "127.0.0.1:5060",
    }
    .spawn_with(&["-i", "127.0.0.3"]);
    std::thread::sleep(Duration::from_millis(300));
    let cardea = Cardea::start_with(&[("admin_secret", ADMIN_SECRET)], &yaml);
    let mut a = Appliance {
        cardea,
        dir,
        dialplan: PathBuf::new(),
        live_port: registrar_port,
        sipps: vec![registrar],
        problems: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut trunks = Value::Null;
    while Instant::now() < deadline {
        trunks = a.admin(json!({"janus": "list_trunks"})).await;
        if trunks["trunks"][0]["registration"]["state"] == "registered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let carrier = &trunks["trunks"][0];
    a.check(
        carrier["name"] == "carrier"
            && carrier["registration"]["state"] == "registered"
            && carrier["registration"]["expires"].is_u64(),
        format!("list_trunks should show the carrier registered: {trunks}"),
    );
    let trace = a.sipps[0].messages();
    let registers = requests(&trace, "REGISTER ");
    a.check(
        registers
            .iter()
            .any(|r| r.contains("Authorization: Digest"))
            && registers
                .iter()
                .all(|r| r.contains("Contact: <sip:alice@127.0.0.1:")),
        format!("a REGISTER, then one with credentials and our Contact: {registers:?}"),
    );
    a.finish("trunk registration");
}

#[test]
fn the_sample_contact_center_configuration_checks() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/contact-center.yaml");
    let out = std::process::Command::new(cardea_tests::cardea_bin())
        .arg("--config")
        .arg(&conf)
        .arg("--check-config")
        .output()
        .expect("running cardea --check-config");
    assert!(
        out.status.success(),
        "cardea --check-config {}: {}{}",
        conf.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
