//! Addresses across networks, with the real `kenkocall serve` in one Linux network
//! namespace and a real sipp in another (tests/netns/harness.rs; root needed, as in CI):
//!
//! - no NAT: serve listens on 0.0.0.0, a caller on the next network completes the
//!   health call and the SDP/Contact it got name the engine's veth address;
//! - through a NAT router with static port forwards: the call completes only when
//!   `sip.public_address` names the router's outside address; without it the SDP names
//!   the private address and the caller's audio (its keys) never arrives;
//! - `sip.trusted_sources`: a source outside the list gets no answer, and is counted.
//!
//! Each test builds its own namespaces (prefix kn1, kn2, ...) and removes them on drop.

#[path = "ivr/harness.rs"]
mod ivr_harness;
#[path = "netns/harness.rs"]
mod netns;

use std::time::Duration;

use netns::{
    CARRIER_IP, ENGINE_RTP, ENGINE_SIP, LAN_IP, NAT_PUBLIC_IP, ROUTER_LAN_IP, Served, Topology,
    received, root, sipp,
};
use serde_json::json;

/// The health-call key sequence of tests/ivr_e2e.rs (language, ID, birthday, 36.5,
/// SpO2 97, no symptoms, finish).
fn issue_keys(hersys_id: &str, mmdd: &str) -> String {
    format!("1,{hersys_id}#{mmdd},,*365,1,97#,1,222222222,2")
}

fn scenario(name: &str) -> std::path::PathBuf {
    root().join("tests/ivr").join(name)
}

fn assert_names(message: &str, ip: &str) {
    assert!(
        message.contains(&format!("c=IN IP4 {ip}")) && message.contains("o=kenkocall"),
        "SDP does not name {ip}:\n{message}"
    );
    let contact = message
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("contact:"))
        .unwrap_or_default();
    assert!(
        contact.contains(&format!("@{ip}:{ENGINE_SIP}")),
        "{contact}"
    );
    for bad in ["0.0.0.0", "127.0.0.1"] {
        assert!(
            !message.contains(bad),
            "{bad} named to a remote peer:\n{message}"
        );
    }
}

/// One health call from `caller_ns` into serve; returns sipp's run and the reports.
async fn health_call(
    t: &Topology,
    served: &Served,
    caller_ns: &str,
    caller_ip: &str,
    target_ip: &str,
    sipp_timeout: &str,
) -> (netns::SippRun, Vec<serde_json::Value>) {
    let id = "1234567";
    let mmdd = served.enrol(id).await;
    let dir = tempfile::tempdir().unwrap();
    let pcap = ivr_harness::rfc4733_pcap(dir.path(), &issue_keys(id, &mmdd), ivr_harness::TIMING);
    let target = format!("{target_ip}:{ENGINE_SIP}");
    let pcap = pcap.display().to_string();
    let sc = scenario("uac_keys_wait_bye.xml");
    let (ns, caller_ip, timeout) = (
        t.ns(caller_ns),
        caller_ip.to_string(),
        sipp_timeout.to_string(),
    );
    let run = tokio::task::spawn_blocking(move || {
        let args = ["-key", "pcap", &pcap, "-timeout", &timeout];
        sipp(&ns, &caller_ip, &target, &sc, &args)
    })
    .await
    .unwrap();
    let reports = served
        .reports_when(id, Duration::from_secs(5), |r| {
            r.first().is_some_and(|r| r["complete"] == json!(true))
        })
        .await;
    (run, reports)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_on_another_network_completes_the_health_call_with_serve_on_0000() {
    let t = Topology::up("kn1");
    let served = Served::start(&t, "", "uri = \"\"");
    let (run, reports) = health_call(&t, &served, "nat", ROUTER_LAN_IP, LAN_IP, "150s").await;
    assert!(
        run.ok,
        "sipp failed: {}\nserve: {}",
        run.errors,
        served.log()
    );
    let ok = received(&run.messages, "SIP/2.0 200").expect("a 200 to the INVITE");
    assert_names(&ok, LAN_IP);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0]["complete"], json!(true));
    assert_eq!(reports[0]["spo2"], json!(97));
}

const TRUNK_OUTSIDE: &str = "uri = \"sip:198.18.0.2:50070\"\nkeepalive_secs = 0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nat_the_call_completes_when_the_public_address_is_set() {
    let t = Topology::up("kn2");
    t.dnat(&ENGINE_SIP.to_string());
    t.dnat(&ENGINE_RTP.replace('-', ":"));
    let served = Served::start(
        &t,
        &format!("public_address = \"{NAT_PUBLIC_IP}\""),
        TRUNK_OUTSIDE,
    );
    assert!(!served.log().contains("public_address"), "{}", served.log());
    let (run, reports) = health_call(&t, &served, "car", CARRIER_IP, NAT_PUBLIC_IP, "150s").await;
    assert!(
        run.ok,
        "sipp failed: {}\nserve: {}",
        run.errors,
        served.log()
    );
    let ok = received(&run.messages, "SIP/2.0 200").expect("a 200 to the INVITE");
    assert_names(&ok, NAT_PUBLIC_IP);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0]["complete"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nat_without_the_public_address_the_sdp_names_the_private_one_and_fails() {
    let t = Topology::up("kn3");
    t.dnat(&ENGINE_SIP.to_string());
    t.dnat(&ENGINE_RTP.replace('-', ":"));
    let served = Served::start(&t, "", TRUNK_OUTSIDE);
    // The operator was told at start-up.
    assert!(
        served.log().contains("sip.public_address"),
        "{}",
        served.log()
    );
    let (run, reports) = health_call(&t, &served, "car", CARRIER_IP, NAT_PUBLIC_IP, "25s").await;
    assert!(!run.ok, "the call should not have completed");
    let ok = received(&run.messages, "SIP/2.0 200").expect("a 200 to the INVITE");
    assert_names(&ok, LAN_IP);
    assert!(
        reports.iter().all(|r| r["complete"] != json!(true)),
        "{reports:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_outside_trusted_sources_gets_no_answer_and_is_counted() {
    let t = Topology::up("kn4");
    // A second caller address on the router's LAN side, outside the trusted list.
    netns::run(
        t.exec("nat", "ip")
            .args(["addr", "add", "192.168.77.3/24", "dev", "kn4l1"]),
    );
    let served = Served::start(&t, "trusted_sources = [\"192.168.77.1/32\"]", "uri = \"\"");
    let options = root().join("tests/sip/uac_options.xml");
    let target = format!("{LAN_IP}:{ENGINE_SIP}");
    let trusted = sipp(
        &t.ns("nat"),
        ROUTER_LAN_IP,
        &target,
        &options,
        &["-timeout", "10s"],
    );
    assert!(
        trusted.ok,
        "a trusted source is answered: {}",
        trusted.errors
    );
    let before = served
        .metric("kenkocall_sip_untrusted_dropped_total")
        .unwrap_or(0);
    let stranger = sipp(
        &t.ns("nat"),
        "192.168.77.3",
        &target,
        &options,
        &["-timeout", "4s"],
    );
    assert!(!stranger.ok, "an untrusted source got an answer");
    assert!(
        !stranger.messages.contains("message received"),
        "{}",
        stranger.messages
    );
    // The engine copies the SIP counters into /metrics every 5 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = served
            .metric("kenkocall_sip_untrusted_dropped_total")
            .unwrap_or(0);
        if now > before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "counter stayed at {now}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
