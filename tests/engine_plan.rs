//! Run plans: overrides, sharding, description, seeded VU generators.

use std::time::Duration;

use rand::RngExt;
use rocketload::engine::{EngineError, Overrides, RunPlan};
use rocketload::scenario::{Scenario, load_str};

fn scenario(load: &str) -> Scenario {
    let yaml = format!(
        "name: t\nusers: {{ count: 10, password: pw }}\nload: {load}\nbehaviours:\n  - name: b\n    steps:\n      - think: 1s\n"
    );
    match load_str(&yaml, "t.yaml", &|_| None) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn plan(load: &str, o: Overrides, shard: Option<(u32, u32)>) -> Result<RunPlan, EngineError> {
    RunPlan::new(
        scenario(load),
        vec!["http://127.0.0.1:1".into()],
        o,
        shard,
        false,
    )
}

/// Shards of one test share their token id and send under disjoint
/// sender numbers; unsharded runs keep their own id.
#[test]
fn shards_share_the_token_run_and_never_share_a_sender() {
    let test = ["sha", "1700000000000", ""];
    for n in 1..=3u32 {
        let mut plans: Vec<RunPlan> = (1..=n)
            .map(|i| {
                plan(RAMP, Overrides::default(), Some((i, n))).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        for p in &mut plans {
            p.share_token_run(&test);
        }
        let runs: std::collections::BTreeSet<u32> = plans.iter().map(|p| p.tokens().run).collect();
        assert_eq!(runs.len(), 1, "{n} shards: one token id");
        let mut senders: Vec<u32> = plans
            .iter()
            .flat_map(|p| (0..7).map(|vu| p.tokens().sender(vu)))
            .collect();
        senders.sort_unstable();
        senders.dedup();
        assert_eq!(
            senders.len(),
            7 * n as usize,
            "{n} shards: disjoint senders"
        );
        for (i, p) in plans.iter().enumerate() {
            let theirs = plans.iter().enumerate().filter(|(j, _)| *j != i);
            for (_, q) in theirs {
                assert!(p.tokens().is_other_shard(q.tokens().sender(3)));
            }
            assert!(!p.tokens().is_other_shard(p.tokens().sender(3)));
        }
    }
    let other = ["sha", "1700000001000", ""];
    let mut a = plan(RAMP, Overrides::default(), Some((1, 2))).unwrap_or_else(|e| panic!("{e}"));
    let mut b = a.clone();
    a.share_token_run(&test);
    b.share_token_run(&other);
    assert_ne!(
        a.tokens().run,
        b.tokens().run,
        "another start: another test"
    );
    let mut alone = plan(RAMP, Overrides::default(), None).unwrap_or_else(|e| panic!("{e}"));
    alone.share_token_run(&test);
    assert_eq!(alone.tokens().run, alone.run_id);
}

const RAMP: &str =
    "{ model: closed, stages: [ { duration: 10s, target: 7 }, { duration: 20s, target: 7 } ] }";
const OPEN: &str = "{ model: open, rate: 10, duration: 1m, max_vus: 5 }";

#[test]
fn shards_partition_users_and_sum_to_the_whole() {
    for n in 1..=4u32 {
        let plans: Vec<RunPlan> = (1..=n)
            .map(|i| {
                plan(RAMP, Overrides::default(), Some((i, n))).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let mut users: Vec<u32> = plans.iter().flat_map(|p| p.shard_users()).collect();
        users.sort_unstable();
        assert_eq!(users, (1..=10).collect::<Vec<_>>(), "{n} shards");
        let peak: f64 = plans.iter().map(|p| p.profile().peak()).sum();
        assert_eq!(peak, 7.0);

        let open: Vec<RunPlan> = (1..=n)
            .map(|i| {
                plan(OPEN, Overrides::default(), Some((i, n))).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        let rate: f64 = open.iter().map(|p| p.profile().peak()).sum();
        assert!((rate - 10.0).abs() < 1e-9);
        let arrivals: f64 = open.iter().map(|p| p.profile().integral()).sum();
        assert!((arrivals - 600.0).abs() < 1e-6);
    }
}

#[test]
fn more_shards_than_users_is_refused() {
    assert!(plan(RAMP, Overrides::default(), Some((10, 10))).is_ok());
    let e = plan(RAMP, Overrides::default(), Some((1, 11)))
        .err()
        .expect("11 shards of 10 users");
    assert!(
        e.to_string().contains("11 shards for users.count 10"),
        "{e}"
    );
}

#[test]
fn overrides_make_a_constant_stage() {
    let p = plan(
        RAMP,
        Overrides {
            duration: Some(Duration::from_secs(5)),
            vus: Some(3),
            rate: None,
        },
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.total_duration(), Duration::from_secs(5));
    assert_eq!(p.profile().value_at(Duration::ZERO), 3.0);
    // Duration alone keeps the peak.
    let p = plan(
        RAMP,
        Overrides {
            duration: Some(Duration::from_secs(5)),
            ..Overrides::default()
        },
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.profile().value_at(Duration::ZERO), 7.0);
    // A rate on a closed scenario is rejected, not ignored.
    assert!(
        plan(
            RAMP,
            Overrides {
                rate: Some(5.0),
                ..Overrides::default()
            },
            None
        )
        .is_err()
    );
    assert!(
        plan(
            OPEN,
            Overrides {
                vus: Some(5),
                ..Overrides::default()
            },
            None
        )
        .is_err()
    );
    assert!(plan(RAMP, Overrides::default(), Some((3, 2))).is_err());
}

#[test]
fn describe_and_seeded_vus() {
    let p = plan(RAMP, Overrides::default(), Some((1, 2))).unwrap_or_else(|e| panic!("{e}"));
    let d = p.describe();
    assert!(d.contains("closed model"), "{d}");
    assert!(d.contains("shard 1/2"), "{d}");
    let (mut a, mut b) = (p.vu_rng(3), p.vu_rng(3));
    assert_eq!(a.random::<u64>(), b.random::<u64>());
    assert_ne!(p.vu_rng(3).random::<u64>(), p.vu_rng(4).random::<u64>());
    assert!(
        p.stage_label(Duration::from_secs(15))
            .starts_with("stage 2/2")
    );
    assert!(
        plan(OPEN, Overrides::default(), None)
            .map(|p| p.describe())
            .unwrap_or_default()
            .contains("open model")
    );
}

#[test]
fn pinned_behaviours_take_the_first_vus() {
    let yaml = "name: t\nusers: { count: 10, password: pw }\nload: { model: closed, vus: 10, duration: 1m }\n\
behaviours:\n  - name: sender\n    vus: 2\n    steps: [ { think: 1s } ]\n  - name: a\n    weight: 1\n    steps: [ { think: 1s } ]\n  - name: b\n    weight: 3\n    steps: [ { think: 1s } ]\n";
    let sc = load_str(yaml, "t.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let p = RunPlan::new(
        sc.clone(),
        vec!["http://127.0.0.1:1".into()],
        Overrides::default(),
        None,
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let picks: Vec<usize> = (0..10)
        .map(|vu| p.behaviour_for(vu, &mut p.vu_rng(vu)))
        .collect();
    assert_eq!(&picks[..2], &[0, 0]);
    assert!(picks[2..].iter().all(|b| *b == 1 || *b == 2), "{picks:?}");
    // Same seed, same picks.
    let again: Vec<usize> = (0..10)
        .map(|vu| p.behaviour_for(vu, &mut p.vu_rng(vu)))
        .collect();
    assert_eq!(picks, again);
    // Two shards: the two pinned VUs are dealt one to each.
    let pinned: usize = (1..=2)
        .map(|i| {
            let p = RunPlan::new(
                sc.clone(),
                vec!["http://127.0.0.1:1".into()],
                Overrides::default(),
                Some((i, 2)),
                false,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            (0..5)
                .filter(|vu| p.behaviour_for(*vu, &mut p.vu_rng(*vu)) == 0)
                .count()
        })
        .sum();
    assert_eq!(pinned, 2);
}
