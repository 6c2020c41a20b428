//! NAT keep-alive toward the trunk on the real clock: with `trunk.keepalive_secs = 1`
//! the endpoint sends the trunk a double CRLF every second (none with 0). Loopback ports
//! 50070-50075 (this test only).

use std::time::Duration;

use kenkocall::config::{SipConfig, TrunkConfig};
use kenkocall::sip::SipEndpoint;
use tokio::net::UdpSocket;

async fn keepalives_in(listen: u16, trunk_port: u16, secs: u64, window: Duration) -> usize {
    let trunk = UdpSocket::bind(("127.0.0.1", trunk_port)).await.unwrap();
    let sip = SipConfig {
        listen: ([127, 0, 0, 1], listen).into(),
        ..SipConfig::default()
    };
    let trunk_cfg = TrunkConfig {
        uri: format!("sip:127.0.0.1:{trunk_port}"),
        keepalive_secs: secs,
        ..TrunkConfig::default()
    };
    let (ep, _events) = SipEndpoint::start(&sip, &trunk_cfg).await.unwrap();
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + window;
    let mut buf = [0u8; 64];
    while let Ok(Ok((n, from))) = tokio::time::timeout_at(deadline, trunk.recv_from(&mut buf)).await
    {
        assert_eq!(&buf[..n], b"\r\n\r\n");
        assert_eq!(
            from.port(),
            listen,
            "sent from the SIP socket (the NAT mapping)"
        );
        seen += 1;
    }
    ep.shutdown().await;
    seen
}

#[tokio::test]
async fn the_trunk_gets_a_crlf_keepalive_every_period() {
    let seen = keepalives_in(50071, 50070, 1, Duration::from_millis(3500)).await;
    assert!((2..=4).contains(&seen), "{seen} keep-alives in 3.5 s");
}

#[tokio::test]
async fn no_keepalive_when_off() {
    assert_eq!(
        keepalives_in(50073, 50072, 0, Duration::from_millis(2500)).await,
        0
    );
}
