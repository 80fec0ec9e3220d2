//! Network events from the real kernel: the test opens real sockets on
//! loopback and asserts the exact events, attributed to this very process.

mod support;

use std::{
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    time::Duration,
};

use serde_json::Value;
use support::Agent;

fn network_event(
    agent: &mut Agent,
    kind: &'static str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    agent.wait_for(what, move |e| e["kind"] == kind && pred(&e["network"]))
}

fn is_to(n: &Value, addr: SocketAddr) -> bool {
    n["daddr"] == addr.ip().to_string().as_str() && n["dport"] == addr.port()
}

#[test]
fn tcp_connects_listens_and_accepts_carry_both_ends_the_outcome_and_the_process() {
    let mut agent = Agent::start();
    let me = std::process::id();
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let listener = TcpListener::bind(bind).unwrap();
        let server = listener.local_addr().unwrap();
        let client = TcpStream::connect(server).unwrap();
        let local = client.local_addr().unwrap();
        let (_conn, _) = listener.accept().unwrap();

        let listen =
            network_event(&mut agent, "network_listen", "listen", |n| n["sport"] == server.port());
        assert_eq!(listen["process"]["pid"], me, "{listen:#}");
        assert_eq!(listen["network"]["saddr"], server.ip().to_string().as_str(), "{listen:#}");

        let connect = network_event(&mut agent, "network_connect", "connect", |n| is_to(n, server));
        let n = &connect["network"];
        assert_eq!(connect["process"]["pid"], me, "{connect:#}");
        assert_eq!(n["protocol"], "tcp");
        assert_eq!(n["family"], if server.is_ipv4() { "ipv4" } else { "ipv6" });
        assert_eq!(n["direction"], "outbound");
        assert_eq!(n["result"], "established", "{connect:#}");
        assert_eq!(n["sport"], local.port(), "{connect:#}");
        assert_eq!(n["saddr"], local.ip().to_string().as_str(), "{connect:#}");
        assert!(connect["process"]["binary"].as_str().is_some_and(|b| !b.is_empty()));

        // Accepts come from softirq context: attributed to the listener.
        let accept = network_event(&mut agent, "network_accept", "accept", |n| {
            n["sport"] == server.port() && n["dport"] == local.port()
        });
        assert_eq!(accept["process"]["pid"], me, "{accept:#}");
        assert_eq!(accept["network"]["direction"], "inbound");
        assert_eq!(accept["network"]["daddr"], local.ip().to_string().as_str());
    }

    // Accepts from one peer on one port are folded like repeated connects,
    // whatever the peer's port, and every one is counted.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    const CONNECTIONS: u64 = 30;
    for _ in 0..CONNECTIONS {
        let _client = TcpStream::connect(server).unwrap();
        let _ = listener.accept().unwrap();
    }
    let (mut total, mut events) = (0, 0);
    let deadline = std::time::Instant::now() + support::WAIT;
    while total < CONNECTIONS {
        assert!(
            std::time::Instant::now() < deadline,
            "only {total} of {CONNECTIONS} accepts counted"
        );
        std::thread::sleep(Duration::from_millis(200));
        (total, events) = (0, 0);
        for e in agent.drain() {
            if e["kind"] == "network_accept" && e["network"]["sport"] == server.port() {
                total += e["network"]["repeats"].as_u64().unwrap_or(1);
                events += 1;
            }
        }
    }
    assert_eq!(total, CONNECTIONS);
    assert!(
        events < CONNECTIONS,
        "{events} accept events for {CONNECTIONS} connections: none folded"
    );

    // A refused connect: nothing listens on the port we just freed.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    TcpStream::connect_timeout(&closed, Duration::from_secs(5)).expect_err("refused");
    let refused =
        network_event(&mut agent, "network_connect", "refused connect", |n| is_to(n, closed));
    assert_eq!(refused["network"]["result"], "failed", "{refused:#}");
}

#[test]
fn udp_sends_are_reported_and_repeats_counted_never_dropped() {
    let mut agent = Agent::start();
    let me = std::process::id();
    for (bind, sink) in [("127.0.0.1:0", "127.0.0.1:0"), ("[::1]:0", "[::1]:0")] {
        let socket = UdpSocket::bind(bind).unwrap();
        let sink = UdpSocket::bind(sink).unwrap();
        let to = sink.local_addr().unwrap();
        const SENDS: u64 = 40;
        for _ in 0..SENDS {
            socket.send_to(b"ping", to).unwrap();
        }
        let first = network_event(&mut agent, "network_connect", "first send", |n| {
            is_to(n, to) && n["repeats"].is_null()
        });
        assert_eq!(first["process"]["pid"], me, "{first:#}");
        assert_eq!(first["network"]["protocol"], "udp");
        assert_eq!(first["network"]["hook"], "sendmsg");
        // Every send is accounted for: the first, then one event with the
        // count of the others (sends spread over windows give more events;
        // the total is what matters).
        let mut total = 1;
        let deadline = std::time::Instant::now() + support::WAIT;
        while total < SENDS {
            assert!(std::time::Instant::now() < deadline, "only {total} of {SENDS} sends counted");
            std::thread::sleep(Duration::from_millis(200));
            total = 0;
            for e in agent.drain() {
                if e["kind"] == "network_connect" && is_to(&e["network"], to) {
                    // A count event stands for the repeats it counts.
                    total += e["network"]["repeats"].as_u64().unwrap_or(1);
                }
            }
        }
        assert_eq!(total, SENDS);
    }
}
