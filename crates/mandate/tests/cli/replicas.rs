//! Several replicas on one PostgreSQL, and PostgreSQL going away.

use std::time::Duration;

use mandate_testkit::pg::{self, PgCluster};
use mandate_testkit::server::ServerProcess;

use super::{bin, health};

/// Two `serve` processes on one PostgreSQL: both migrate at once, both receive every change
/// notification, and both treat a lost listener connection as "everything changed".
#[tokio::test]
async fn two_replicas_share_one_postgres_and_its_change_bus() {
    let url = pg::fresh_database();
    // Replicas share the key encryption key, as they must (each would otherwise generate its
    // own development key and the second could not open what the first sealed).
    let env = [
        ("MANDATE_PORT", "0"),
        ("DATABASE_URL", url.as_str()),
        ("ENCRYPTION_KEY", super::KEY),
    ];
    let a = ServerProcess::spawn(bin(), &env);
    let b = ServerProcess::spawn(bin(), &env);
    let (addr_a, addr_b) = (a.wait_listening(), b.wait_listening());
    assert_eq!(health(addr_a).await.0, 200);
    assert_eq!(health(addr_b).await.0, 200);
    for replica in [&a, &b] {
        let ready = replica.wait_for_event("database ready", |_| true, Duration::from_secs(1));
        assert_eq!(ready["fields"]["backend"], "postgres");
    }

    let cluster = pg::shared();
    let database = url.rsplit('/').next().unwrap();
    cluster.psql(
        database,
        r#"SELECT pg_notify('mandate_changes', '{"topic":"workspace","id":"w-from-elsewhere"}')"#,
    );
    for replica in [&a, &b] {
        replica.wait_for_event(
            "change observed",
            |e| e["fields"]["id"] == "w-from-elsewhere",
            Duration::from_secs(10),
        );
    }

    let killed = cluster.psql(
        database,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = 'mandate-change-bus' AND datname = current_database()",
    );
    assert_eq!(killed, "2", "one listener per replica");
    for replica in [&a, &b] {
        replica.wait_for_event(
            "change bus resync: treating everything as changed",
            |_| true,
            Duration::from_secs(15),
        );
    }
    cluster.psql(
        database,
        r#"SELECT pg_notify('mandate_changes', '{"topic":"workspace","id":"after-reconnect"}')"#,
    );
    for replica in [&a, &b] {
        replica.wait_for_event(
            "change observed",
            |e| e["fields"]["id"] == "after-reconnect",
            Duration::from_secs(10),
        );
    }
}

/// `/health` reports the database: 503 `degraded` while PostgreSQL is down, `ok` once it is back.
#[tokio::test]
async fn health_degrades_while_postgres_is_down_and_recovers() {
    let cluster = PgCluster::start();
    let url = cluster.create_database();
    let server = ServerProcess::spawn(
        bin(),
        &[("MANDATE_PORT", "0"), ("DATABASE_URL", url.as_str())],
    );
    let addr = server.wait_listening();
    assert_eq!(health(addr).await, (200, r#"{"status":"ok"}"#.to_string()));

    cluster.stop();
    assert_eq!(
        health(addr).await,
        (503, r#"{"status":"degraded"}"#.to_string())
    );

    cluster.restart();
    let mut last = (0, String::new());
    for _ in 0..50 {
        last = health(addr).await;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last, (200, r#"{"status":"ok"}"#.to_string()));
}
