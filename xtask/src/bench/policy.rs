//! `bench policy`: the baseline bundle in Palisade and in OPA's engine.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::cmd;

/// One engine's `bench` output line.
pub(super) fn bench_line(cmd: &mut Command) -> anyhow::Result<serde_json::Value> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// A node's activity recorded by `palisade run` (builds, shells, git,
/// python, a program run from /tmp), for the policy bench.
pub(super) const NODE_MIX: &str = "xtask/bench/node-mix.jsonl.gz";

pub(super) fn policy(rounds: u32, bin: &Path) -> anyhow::Result<()> {
    let root = cmd::workspace_root();
    let bundle = root.join("policies");
    let out_dir = cmd::target_dir().join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let mix = out_dir.join("node-mix.jsonl");
    let unpacked = Command::new("gzip").arg("-dc").arg(root.join(NODE_MIX)).output()?;
    if !unpacked.status.success() {
        bail!("cannot unpack {NODE_MIX}: {}", String::from_utf8_lossy(&unpacked.stderr));
    }
    std::fs::write(&mix, unpacked.stdout)?;
    let ungated = ungated_copy(&bundle, &out_dir.join("policies-ungated"))?;
    let sets = [("corpus", bundle.join("samples/corpus.jsonl"), 50, 10), ("node mix", mix, 3, 1)];
    println!(
        "bench policy: baseline bundle, {rounds} rounds alternating, median of rounds, one core each"
    );
    for (name, events, our_passes, opa_passes) in &sets {
        let (mut ours, mut theirs, mut theirs_ungated) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            let a = bench_line(
                Command::new(bin)
                    .args(["policy", "bench"])
                    .arg(&bundle)
                    .arg("--events")
                    .arg(events)
                    .args(["--passes", &our_passes.to_string()]),
            )?;
            let opa = |bundle: &Path| {
                bench_line(
                    Command::new("python3")
                        .arg(root.join("xtask/opa/opa_eval.py"))
                        .arg("bench")
                        .arg(bundle)
                        .arg("--events")
                        .arg(events)
                        .args(["--passes", &opa_passes.to_string()]),
                )
            };
            let (b, c) = (opa(&bundle)?, opa(&ungated)?);
            eprintln!(
                "{name} round {round}/{rounds}: palisade {a}\n  opa {b}\n  opa without the trigger gate {c}"
            );
            ours.push(a);
            theirs.push(b);
            theirs_ungated.push(c);
        }
        let median = |v: &[serde_json::Value], path: &[&str], key: &str| {
            let mut xs: Vec<f64> =
                v.iter().filter_map(|x| path.iter().fold(x, |x, p| &x[p])[key].as_f64()).collect();
            xs.sort_by(f64::total_cmp);
            xs[xs.len() / 2]
        };
        println!(
            "  {name}: {} events, {:.1} % trigger some rule",
            ours[0]["events"],
            100.0 * median(&ours, &[], "triggered_share")
        );
        let rows: [(&str, &[serde_json::Value], &[&str]); 4] = [
            ("palisade, agent path", &ours, &["agent"]),
            ("palisade, whole decision", &ours, &[]),
            ("opa (Go engine, C bridge)", &theirs, &[]),
            ("opa, no trigger gate", &theirs_ungated, &[]),
        ];
        for (engine, v, path) in rows {
            println!(
                "    {engine:<26} {:>9.0} evals/s   p50 {:>8.1} µs   p99 {:>8.1} µs",
                median(v, path, "evals_per_sec"),
                median(v, path, "p50_us"),
                median(v, path, "p99_us")
            );
        }
        // Against OPA's faster figure of the two equivalent bundles.
        let opa = median(&theirs, &[], "evals_per_sec").max(median(
            &theirs_ungated,
            &[],
            "evals_per_sec",
        ));
        println!(
            "    throughput ratio palisade/opa (opa's faster bundle): agent path {:.1}, whole decision {:.1}",
            median(&ours, &["agent"], "evals_per_sec") / opa,
            median(&ours, &[], "evals_per_sec") / opa
        );
    }
    Ok(())
}

/// A copy of `bundle` in `dir` whose trigger gate lets every rule through:
/// the same decisions (triggers only ever skip rules that cannot hit), and
/// OPA, which gains nothing from the gate, skips its cost.
pub(super) fn ungated_copy(bundle: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    cmd::run(Command::new("cp").arg("-r").arg(bundle).arg(dir))?;
    std::fs::write(
        dir.join("lib/triggers.rego"),
        "package palisade.lib.triggers\n\nimport rego.v1\n\ntriggered(_) := true\n",
    )?;
    Ok(dir.to_path_buf())
}
