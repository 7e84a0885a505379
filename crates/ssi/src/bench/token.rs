//! `ssi bench token`: minting and partner verification against raw ES256,
//! and against the JOSE library a partner would otherwise use (DESIGN.md
//! section 11). Everything runs on one thread, in one process run.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Args;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ssi_token::{
    AppKeyPair, InMemoryReplayStore, LinkSigningKey, LinkTokenKey, LinkTokenKeys, MintRequest,
    OctJwk, SSI_TOKEN_SCHEMA, SystemRandom, VerifyOptions, issue_link, mint_ssi_token,
    unseal_link_signing_key, verify_ssi_token,
};

use super::{Case, group_thousands, measure_interleaved, parse_seconds, render_table};
use crate::clock::Clock;

/// Links behind the verification pool, and distinct tokens in it.
const POOL_LINKS: usize = 64;
const POOL_TOKENS: usize = 2048;
/// Each measurement's time is split into this many interleaved rounds.
const ROUNDS: u32 = 3;
const ISSUER: &str = "https://ssi.example.com";
const IDP: &str = "bench-idp";
const REPLAY_STORE: &str = "InMemoryReplayStore, a fresh one for each pass over the pool";
const JOSE_SCRIPT: &str = "interop/node/bench-verify.mjs";

/// DESIGN.md section 11 targets.
const TARGET_MINT: f64 = 0.90;
const TARGET_VERIFY: f64 = 0.80;
const TARGET_JOSE: f64 = 1.0;

#[derive(Debug, Args)]
pub struct TokenBenchArgs {
    /// Seconds per measurement (split into 3 interleaved rounds; the best round counts)
    #[arg(long, default_value = "3", value_parser = parse_seconds)]
    seconds: f64,
    /// Print JSON instead of the table
    #[arg(long)]
    json: bool,
    /// Skip the jose (Node.js) measurement
    #[arg(long)]
    no_node: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Sign,
    Verify,
}

/// One row of the results.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(rename = "impl")]
    implementation: String,
    operation: String,
    ops_per_sec: Option<f64>,
    us_per_op: Option<f64>,
    ratio: f64,
    ratio_vs: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Target>,
}

#[derive(Debug, Serialize)]
struct Target {
    /// `>=` or `>`.
    relation: &'static str,
    value: f64,
    met: bool,
}

impl Target {
    fn at_least(value: f64, ratio: f64) -> Self {
        Self {
            relation: ">=",
            value,
            met: ratio >= value,
        }
    }

    fn above(value: f64, ratio: f64) -> Self {
        Self {
            relation: ">",
            value,
            met: ratio > value,
        }
    }
}

/// What `bench-verify.mjs` prints.
#[derive(Debug, Serialize, Deserialize)]
struct JoseResult {
    library: String,
    verified: u64,
    seconds: f64,
    rate: f64,
}

/// A link as the server holds it: the unsealed signing key and the link token.
struct BenchLink {
    key: LinkSigningKey,
    link_id: String,
    subject: String,
    device_id: String,
    link_token: String,
}

impl BenchLink {
    fn request(&self) -> MintRequest<'_> {
        MintRequest {
            issuer: ISSUER,
            audience: IDP,
            subject: &self.subject,
            link_id: &self.link_id,
            link_token: &self.link_token,
            device_id: &self.device_id,
        }
    }
}

pub fn run(args: TokenBenchArgs, clock: &dyn Clock) -> Result<ExitCode> {
    let now = clock.now();
    let mut rng = SystemRandom;

    // Set-up, untimed: links made the partner's way, unsealed the server's
    // way, and a pool of distinct tokens minted from them.
    eprintln!("bench: setting up {POOL_LINKS} links and {POOL_TOKENS} tokens");
    let app = AppKeyPair::generate(&mut rng);
    let link_token_key = LinkTokenKey::generate(&mut rng);
    let link_token_jwk = link_token_key.to_jwk();
    let links: Vec<BenchLink> = (0..POOL_LINKS)
        .map(|index| {
            let issued = issue_link(
                &format!("partner-user-{index:06}"),
                &format!("amzn1.account.BENCH{index:020}"),
                BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
                &link_token_key,
                &app.public_key(),
                now - 86_400,
                &mut rng,
            );
            let key = unseal_link_signing_key(&issued.sealed_signing_key, &[&app])
                .map_err(|error| anyhow!("set-up: unsealing failed: {error}"))?;
            Ok(BenchLink {
                key,
                link_id: format!("lnk_{index:022}"),
                subject: format!("amzn1.account.BENCH{index:020}"),
                device_id: format!("amzn1.device.BENCH{index:020}"),
                link_token: issued.link_token,
            })
        })
        .collect::<Result<_>>()?;
    let pool: Vec<String> = (0..POOL_TOKENS)
        .map(|index| {
            mint_ssi_token(
                &links[index % POOL_LINKS].request(),
                &links[index % POOL_LINKS].key,
                now,
                &mut rng,
            )
        })
        .collect();
    let keys = LinkTokenKeys::single(LinkTokenKey::from_jwk(&link_token_jwk)?);
    let options = VerifyOptions {
        link_token_keys: &keys,
        identity_provider_name: IDP,
        issuer: ISSUER,
    };
    let check_store = InMemoryReplayStore::new();
    for token in &pool {
        verify_ssi_token(SSI_TOKEN_SCHEMA, token, &options, now, &check_store)
            .map_err(|error| anyhow!("set-up: a pool token does not verify: {error}"))?;
    }

    // The raw implementations all sign and verify the signing input of a
    // real token, with the key of its link.
    let link = &links[0];
    let message = signing_input(&pool[0])?.as_bytes().to_vec();
    let private = *link.key.private_scalar();
    let public = *link.key.public_sec1();
    let raw = RawKeys::new(&private, &public)?;
    let signature = raw.aws_sign(&message);
    ensure!(
        raw.aws_verify(&message, &signature)
            && raw.ring_verify(&message, &signature)
            && raw.p256_verify(&message, &signature),
        "set-up: a raw implementation does not verify the reference signature"
    );

    // The server mints with the buffered system CSPRNG; so does the bench.
    let mut mint_rng = ssi_token::BufferedSystemRandom::new();
    let mut next = 0usize;
    let mut replay = InMemoryReplayStore::new();
    // In [`RAW`] order, then mint, then verify: `Report::new` reads them so.
    let mut cases = [
        Case::new("aws-lc-rs ES256 sign", || {
            raw.aws_sign(&message).len() == 64
        }),
        Case::new("ring ES256 sign", || raw.ring_sign(&message).len() == 64),
        Case::new("p256 ES256 sign", || raw.p256_sign(&message).len() == 64),
        Case::new("aws-lc-rs ES256 verify", || {
            raw.aws_verify(&message, &signature)
        }),
        Case::new("ring ES256 verify", || {
            raw.ring_verify(&message, &signature)
        }),
        Case::new("p256 ES256 verify", || {
            raw.p256_verify(&message, &signature)
        }),
        Case::new("ssi-token mint_ssi_token", || {
            !mint_ssi_token(&link.request(), &link.key, now, &mut mint_rng).is_empty()
        }),
        Case::new("ssi-token verify_ssi_token", || {
            if next == pool.len() {
                next = 0;
                replay = InMemoryReplayStore::new();
            }
            let token = &pool[next];
            next += 1;
            verify_ssi_token(SSI_TOKEN_SCHEMA, token, &options, now, &replay).is_ok()
        }),
    ];
    let per_round = Duration::from_secs_f64(args.seconds / f64::from(ROUNDS));
    let rates = measure_interleaved(&mut cases, per_round, ROUNDS)?;
    drop(cases);

    let jose = if args.no_node {
        Err("skipped (--no-node)".to_owned())
    } else {
        eprintln!("bench: jose (Node.js) verify ({:.2} s)", args.seconds);
        run_jose(&link_token_jwk, now, &pool, args.seconds).map_err(|error| format!("{error:#}"))
    };
    if let Err(reason) = &jose
        && !args.no_node
    {
        eprintln!("bench: jose not measured: {reason}");
    }

    let report = Report::new(&rates, jose, args.seconds, message.len());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// A ratio cut (not rounded) to two decimals, so that a shown `0.80` is
/// never a 0.7996 that missed a `>= 0.80` target.
fn floor_2(ratio: f64) -> String {
    format!("{:.2}", (ratio * 100.0 + 1e-9).floor() / 100.0)
}

/// `b64(header).b64(payload)` of a compact JWS.
fn signing_input(token: &str) -> Result<&str> {
    let end = token
        .rfind('.')
        .ok_or_else(|| anyhow!("set-up: a minted token has no signature part"))?;
    Ok(&token[..end])
}

/// One link key pair loaded into each raw implementation (also the raw
/// reference of `ssi bench server`).
pub(super) struct RawKeys<'a> {
    public: &'a [u8; 65],
    aws: aws_lc_rs::signature::EcdsaKeyPair,
    aws_rng: aws_lc_rs::rand::SystemRandom,
    ring: ring::signature::EcdsaKeyPair,
    ring_rng: ring::rand::SystemRandom,
    p256: p256::ecdsa::SigningKey,
}

impl<'a> RawKeys<'a> {
    pub(super) fn new(private: &[u8; 32], public: &'a [u8; 65]) -> Result<Self> {
        let ring_rng = ring::rand::SystemRandom::new();
        Ok(Self {
            public,
            aws: aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                private,
                public,
            )
            .map_err(|error| anyhow!("aws-lc-rs refused the key: {error}"))?,
            aws_rng: aws_lc_rs::rand::SystemRandom::new(),
            ring: ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                private,
                public,
                &ring_rng,
            )
            .map_err(|error| anyhow!("ring refused the key: {error}"))?,
            ring_rng,
            p256: p256::ecdsa::SigningKey::from_slice(private)
                .map_err(|error| anyhow!("p256 refused the key: {error}"))?,
        })
    }

    pub(super) fn aws_sign(&self, message: &[u8]) -> Vec<u8> {
        self.aws
            .sign(&self.aws_rng, message)
            .map(|signature| signature.as_ref().to_vec())
            .unwrap_or_default()
    }

    fn ring_sign(&self, message: &[u8]) -> Vec<u8> {
        self.ring
            .sign(&self.ring_rng, message)
            .map(|signature| signature.as_ref().to_vec())
            .unwrap_or_default()
    }

    fn p256_sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature = self.p256.sign(message);
        signature.to_bytes().to_vec()
    }

    // Each verification starts from the 65-byte public point, as a verifier
    // of a token does (every link has its own vKey): point decoding and the
    // on-curve check are part of the raw cost, for all three alike.

    fn aws_verify(&self, message: &[u8], signature: &[u8]) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            self.public,
        )
        .verify(message, signature)
        .is_ok()
    }

    fn ring_verify(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            self.public,
        )
        .verify(message, signature)
        .is_ok()
    }

    fn p256_verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(self.public) else {
            return false;
        };
        let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}

/// Runs `node bench-verify.mjs JOB SECONDS` on the same tokens.
fn run_jose(
    link_token_jwk: &OctJwk,
    now: i64,
    pool: &[String],
    seconds: f64,
) -> Result<JoseResult> {
    let script = find_jose_script().ok_or_else(|| {
        anyhow!("{JOSE_SCRIPT} not found in the current directory, its parents or the source tree")
    })?;
    let script_dir = script.parent().unwrap_or(Path::new("."));
    if !script_dir.join("node_modules/jose").is_dir() {
        bail!(
            "jose is not installed: run `npm ci --prefix {}`",
            script_dir.display()
        );
    }
    let job = json!({
        "linkTokenKey": link_token_jwk,
        "idp": IDP,
        "issuer": ISSUER,
        "now": now,
        "tokens": pool,
    });
    let job_path =
        std::env::temp_dir().join(format!("ssi-bench-token-{}.json", std::process::id()));
    let result = write_job(&job_path, &job).and_then(|()| {
        let output = Command::new("node")
            .arg(&script)
            .arg(&job_path)
            .arg(seconds.to_string())
            .output()
            .context("cannot run `node` (is Node.js installed?)")?;
        if !output.status.success() {
            bail!(
                "{} exited with {}: {}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str::<JoseResult>(line)
            .with_context(|| format!("unexpected output from {}: {line:?}", script.display()))
    });
    let _ = std::fs::remove_file(&job_path);
    result
}

fn write_job(path: &Path, job: &serde_json::Value) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("{}: cannot create the job file", path.display()))?;
    serde_json::to_writer(&mut file, job)?;
    file.flush()?;
    Ok(())
}

/// The script in the current directory or one of its parents (a checkout),
/// else in the source tree this binary was built from.
fn find_jose_script() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let from_cwd = cwd
        .iter()
        .flat_map(|dir| dir.ancestors())
        .map(Path::to_path_buf);
    let source_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    from_cwd
        .chain([source_root])
        .map(|root| root.join(JOSE_SCRIPT))
        .find(|path| path.is_file())
}

/// `--json` output.
#[derive(Serialize)]
struct JsonReport<'a> {
    bench: &'static str,
    seconds_per_measurement: f64,
    rounds: u32,
    statistic: &'static str,
    message_bytes: usize,
    raw_verify_decodes_public_point: bool,
    pool_tokens: usize,
    pool_links: usize,
    replay_store: &'static str,
    rows: &'a [Row],
    jose: Option<&'a JoseResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jose_skipped: Option<&'a str>,
}

/// The measured rates and the ratios derived from them.
struct Report {
    rows: Vec<Row>,
    jose: Result<JoseResult, String>,
    seconds: f64,
    message_bytes: usize,
}

const RAW: [(&str, Op); 6] = [
    ("aws-lc-rs", Op::Sign),
    ("ring", Op::Sign),
    ("p256 (pure Rust)", Op::Sign),
    ("aws-lc-rs", Op::Verify),
    ("ring", Op::Verify),
    ("p256 (pure Rust)", Op::Verify),
];

impl Report {
    /// `rates`: the six raw rates in [`RAW`] order, then mint, then verify.
    fn new(
        rates: &[f64],
        jose: Result<JoseResult, String>,
        seconds: f64,
        message_bytes: usize,
    ) -> Self {
        let fastest = |op: Op| {
            RAW.iter()
                .zip(rates)
                .filter(|((_, kind), _)| *kind == op)
                .map(|((name, _), rate)| (*name, *rate))
                .fold(
                    ("", 0.0_f64),
                    |best, this| if this.1 > best.1 { this } else { best },
                )
        };
        let (sign_name, sign_rate) = fastest(Op::Sign);
        let (verify_name, verify_rate) = fastest(Op::Verify);
        let row =
            |implementation: &str, operation: &str, rate: f64, vs: String, vs_rate: f64| Row {
                implementation: implementation.to_owned(),
                operation: operation.to_owned(),
                ops_per_sec: Some(rate),
                us_per_op: Some(1e6 / rate),
                ratio: rate / vs_rate,
                ratio_vs: vs,
                target: None,
            };
        let mut rows: Vec<Row> = RAW
            .iter()
            .zip(rates)
            .map(|((name, op), rate)| match op {
                Op::Sign => row(
                    name,
                    "ES256 sign (raw)",
                    *rate,
                    "fastest raw sign".into(),
                    sign_rate,
                ),
                Op::Verify => row(
                    name,
                    "ES256 verify (raw)",
                    *rate,
                    "fastest raw verify".into(),
                    verify_rate,
                ),
            })
            .collect();
        let (mint_rate, ours_rate) = (rates[6], rates[7]);
        let mut mint = row(
            "ssi-token",
            "mint_ssi_token",
            mint_rate,
            format!("raw sign ({sign_name})"),
            sign_rate,
        );
        mint.target = Some(Target::at_least(TARGET_MINT, mint.ratio));
        rows.push(mint);
        let mut ours = row(
            "ssi-token",
            "verify_ssi_token",
            ours_rate,
            format!("raw verify ({verify_name})"),
            verify_rate,
        );
        ours.target = Some(Target::at_least(TARGET_VERIFY, ours.ratio));
        rows.push(ours);
        if let Ok(jose) = &jose {
            rows.push(row(
                &format!("{} (node)", jose.library),
                "verify SSI token",
                jose.rate,
                format!("raw verify ({verify_name})"),
                verify_rate,
            ));
            let ratio = ours_rate / jose.rate;
            rows.push(Row {
                implementation: "ssi-token".to_owned(),
                operation: "verify_ssi_token vs jose".to_owned(),
                ops_per_sec: None,
                us_per_op: None,
                ratio,
                ratio_vs: jose.library.clone(),
                target: Some(Target::above(TARGET_JOSE, ratio)),
            });
        }
        Self {
            rows,
            jose,
            seconds,
            message_bytes,
        }
    }

    fn to_text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| {
                vec![
                    row.implementation.clone(),
                    row.operation.clone(),
                    row.ops_per_sec.map(group_thousands).unwrap_or_default(),
                    row.us_per_op
                        .map(|us| format!("{us:.2}"))
                        .unwrap_or_default(),
                    floor_2(row.ratio),
                    row.ratio_vs.clone(),
                    row.target
                        .as_ref()
                        .map(|t| {
                            format!(
                                "{} {:.2} {}",
                                t.relation,
                                t.value,
                                if t.met { "met" } else { "MISSED" }
                            )
                        })
                        .unwrap_or_default(),
                ]
            })
            .collect();
        let mut out = render_table(
            &[
                "impl",
                "operation",
                "ops/s",
                "µs/op",
                "ratio",
                "ratio of",
                "target",
            ],
            &[false, false, true, true, true, false, false],
            &rows,
        );
        out.push('\n');
        out.push_str(&format!(
            "One thread; {:.2} s per measurement in {ROUNDS} interleaved rounds, best round shown.\n",
            self.seconds
        ));
        out.push_str(&format!(
            "Raw rows sign and verify the {}-byte signing input of a minted token; raw verify decodes the public point each time.\n",
            self.message_bytes
        ));
        out.push_str(&format!(
            "verify_ssi_token: {POOL_TOKENS} distinct tokens from {POOL_LINKS} links, replay store: {REPLAY_STORE}.\n"
        ));
        match &self.jose {
            Ok(jose) => out.push_str(&format!(
                "jose: {} verifications in {:.2} s on the same tokens (no replay check).\n",
                jose.verified, jose.seconds
            )),
            Err(reason) => out.push_str(&format!("jose: not measured: {reason}.\n")),
        }
        out
    }

    fn to_json(&self) -> JsonReport<'_> {
        JsonReport {
            bench: "token",
            seconds_per_measurement: self.seconds,
            rounds: ROUNDS,
            statistic: "best round",
            message_bytes: self.message_bytes,
            raw_verify_decodes_public_point: true,
            pool_tokens: POOL_TOKENS,
            pool_links: POOL_LINKS,
            replay_store: REPLAY_STORE,
            rows: &self.rows,
            jose: self.jose.as_ref().ok(),
            jose_skipped: self.jose.as_ref().err().map(String::as_str),
        }
    }
}
