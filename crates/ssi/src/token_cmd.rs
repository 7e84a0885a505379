//! `ssi token`: the partner library on the command line, for partner backends
//! and their tests. Keys are JWK files; results are JSON on stdout; problems go
//! to stderr. Exit status: 0 accepted, 1 usage or I/O error, 2 a token or
//! sealed key refused (the JSON on stdout then says why).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use ssi_proto::{RequestStatus, Token};
use ssi_token::{
    AppJwk, AppKeyPair, AppPublicKey, EcPublicJwk, InMemoryReplayStore, KeyError,
    LINK_TOKEN_SCHEMA, LinkSigningKey, LinkTokenKey, LinkTokenKeys, MAX_LINK_TOKEN_BYTES,
    MAX_SSI_TOKEN_BYTES, MintRequest, SSI_TOKEN_SCHEMA, SystemRandom, VerifyOptions, issue_link,
    mint_ssi_token, unseal_link_signing_key, verify_ssi_token,
};

use crate::clock::{Clock, now_or};

/// Exit status when a token or sealed key is refused (1 is for usage and I/O).
const EXIT_REFUSED: u8 = 2;
pub const EXIT_STATUS_HELP: &str = "Exit status: 0 accepted; 1 usage, file or key error (message on stderr); \
     2 token or sealed key refused (JSON on stdout says why, message on stderr).";
/// Key files and piped tokens are small; anything bigger is a mistake.
const MAX_INPUT_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Generate a key and write it as a JWK file (mode 0600)
    #[command(subcommand)]
    Keygen(KeygenKind),
    /// Issue a link for linkUserAccount: link token, sealed link signing key, verification key
    LinkToken(LinkTokenArgs),
    /// Verify an SSI token as the partner backend does (exit 2 when refused)
    Verify(VerifyArgs),
    /// Mint an SSI token as the server does (for partners' tests)
    Mint(MintArgs),
    /// Unseal a sealed link signing key as the server does (exit 2 when refused)
    Unseal(UnsealArgs),
    /// Write the published test vectors (spec/vectors) into a directory
    Vectors(VectorsArgs),
}

#[derive(Debug, Subcommand)]
enum KeygenKind {
    /// The partner's link-token key: {kty:"oct", kid, alg:"A256GCMKW", k}; prints its kid
    LinkToken(OutArgs),
    /// A link key pair: writes the private JWK, prints the public JWK (vKey)
    Link(OutArgs),
    /// An app key pair (ECDH-ES+A256KW): writes the private JWK, prints the public JWK
    App {
        #[command(flatten)]
        out: OutArgs,
        /// Also write the public JWK to this file
        #[arg(long, value_name = "FILE")]
        public_out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct OutArgs {
    /// Where to write the private JWK (created with mode 0600)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace files that already exist
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct LinkTokenArgs {
    /// The user's id in the partner's identity system
    #[arg(long, value_name = "ID")]
    partner_user_id: String,
    /// The platform user id (the amazonUserId the app got from getUserAndLinks)
    #[arg(long, value_name = "ID")]
    platform_user_id: String,
    /// The partner's link-token key (one oct JWK)
    #[arg(long, value_name = "FILE")]
    link_token_key: PathBuf,
    /// The app's public JWK (from the developer console)
    #[arg(long, value_name = "FILE")]
    app_public_key: PathBuf,
    /// Context returned on every verification; repeatable
    #[arg(long = "ctx", value_name = "KEY=VALUE", value_parser = parse_ctx_entry)]
    ctx: Vec<(String, String)>,
    /// Unix seconds to use instead of the clock
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    now: Option<i64>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The SSI token: compact JWS or a JSON object {"token","schema"}; "-" reads stdin
    #[arg(long, value_name = "TOKEN|-")]
    token: String,
    /// The schema of a bare token (a JSON object's own "schema" takes precedence)
    #[arg(long, default_value = SSI_TOKEN_SCHEMA)]
    schema: String,
    /// The partner's link-token key: one oct JWK or a JWK set {"keys":[...]}
    #[arg(long, value_name = "FILE")]
    link_token_key: PathBuf,
    /// The partner's identity provider name (expected aud)
    #[arg(long, value_name = "NAME")]
    idp: String,
    /// The platform server's issuer URL (expected iss)
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// Unix seconds to use instead of the clock
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    now: Option<i64>,
}

#[derive(Debug, Args)]
struct MintArgs {
    /// The private link JWK (the unsealed link signing key)
    #[arg(long, value_name = "FILE")]
    signing_key: PathBuf,
    /// The link id (lid and the header's kid)
    #[arg(long, value_name = "ID")]
    link_id: String,
    /// The directed platform user id (sub)
    #[arg(long, value_name = "SUB")]
    subject: String,
    /// The identity provider name (aud)
    #[arg(long, value_name = "IDP")]
    audience: String,
    /// The server's issuer URL (iss)
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The link token: verbatim, {"token","schema"}, or `link-token` output; "-" reads stdin
    #[arg(long, value_name = "TOKEN|-")]
    link_token: String,
    /// The directed device id (dev)
    #[arg(long, value_name = "DEV")]
    device_id: String,
    /// Unix seconds to use instead of the clock
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    now: Option<i64>,
}

#[derive(Debug, Args)]
struct UnsealArgs {
    /// The app's private JWK, or a JWK set {"keys":[...]} of its current and retired keys
    #[arg(long, value_name = "FILE")]
    app_key: PathBuf,
    /// The sealed link signing key (compact JWE); "-" reads stdin
    #[arg(long, value_name = "TEXT|-")]
    sealed: String,
    /// Also write the unsealed private link JWK here (mode 0600)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace --out if it exists
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct VectorsArgs {
    /// Directory to write the vector files into (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: TokenArgs, clock: &dyn Clock) -> Result<ExitCode> {
    match args.command {
        TokenCommand::Keygen(kind) => keygen(kind),
        TokenCommand::LinkToken(args) => link_token(args, clock),
        TokenCommand::Verify(args) => verify(args, clock),
        TokenCommand::Mint(args) => mint(args, clock),
        TokenCommand::Unseal(args) => unseal(args),
        TokenCommand::Vectors(args) => vectors(args),
    }
}

fn keygen(kind: KeygenKind) -> Result<ExitCode> {
    let mut rng = SystemRandom;
    match kind {
        KeygenKind::LinkToken(out) => {
            let key = LinkTokenKey::generate(&mut rng);
            write_private_files(&[(&out.out, to_json(&key.to_jwk()))], out.force)?;
            let jwk = key.to_jwk();
            print_json(&KeyIdOutput {
                kid: &jwk.kid,
                alg: &jwk.alg,
            })?;
        }
        KeygenKind::Link(out) => {
            let key = LinkSigningKey::generate(&mut rng);
            write_private_files(&[(&out.out, to_json(&key.to_jwk()))], out.force)?;
            print_json(&key.verification_key().to_jwk())?;
        }
        KeygenKind::App { out, public_out } => {
            let key = AppKeyPair::generate(&mut rng);
            let public = key.public_key().to_jwk();
            let mut files = vec![(out.out.as_path(), to_json(&key.to_private_jwk()))];
            if let Some(public_out) = &public_out {
                if public_out == &out.out {
                    bail!("--public-out must differ from --out");
                }
                files.push((public_out.as_path(), to_json(&public)));
            }
            write_private_files(&files, out.force)?;
            print_json(&public)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn link_token(args: LinkTokenArgs, clock: &dyn Clock) -> Result<ExitCode> {
    ssi_proto::validate_partner_user_id(&args.partner_user_id)
        .context("--partner-user-id is not valid")?;
    if args.platform_user_id.is_empty() {
        bail!("--platform-user-id must not be empty");
    }
    let mut ctx = BTreeMap::new();
    for (key, value) in args.ctx {
        if ctx.contains_key(&key) {
            bail!("--ctx {key:?} is given twice");
        }
        ctx.insert(key, value);
    }
    let link_token_key = read_key(&args.link_token_key, "link-token key", |text| {
        LinkTokenKey::from_jwk_json(text)
    })?;
    let app_key = read_key(&args.app_public_key, "app public key", |text| {
        AppPublicKey::from_jwk_json(text)
    })?;
    let issued = issue_link(
        &args.partner_user_id,
        &args.platform_user_id,
        ctx,
        &link_token_key,
        &app_key,
        now_or(args.now, clock),
        &mut SystemRandom,
    );
    if issued.link_token.len() > MAX_LINK_TOKEN_BYTES {
        bail!(
            "the link token is {} bytes, over the {MAX_LINK_TOKEN_BYTES}-byte limit: shorten --ctx",
            issued.link_token.len()
        );
    }
    print_json(&LinkOutput {
        link_token: Token::link(issued.link_token),
        link_signing_key: issued.sealed_signing_key,
        verification_key: issued.verification_key.to_jwk(),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `keygen link-token`: which key was made (never the key itself).
#[derive(Serialize)]
struct KeyIdOutput<'a> {
    kid: &'a str,
    alg: &'a str,
}

/// `link-token`: what the partner backend hands its app for linkUserAccount.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkOutput {
    link_token: Token,
    link_signing_key: String,
    verification_key: EcPublicJwk,
}

/// `verify`, when the token is refused.
#[derive(Serialize)]
struct RefusedOutput<'a> {
    error: &'static str,
    step: u8,
    detail: &'a str,
}

/// `unseal`: the seed's request status, and the public key or the reason.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnsealOutput {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification_key: Option<EcPublicJwk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// `vectors`: where the files went.
#[derive(Serialize)]
struct VectorsOutput<'a> {
    dir: &'a Path,
    files: Vec<&'static str>,
}

/// A token given as JSON: the seed's `Token` object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenObject {
    token: String,
    #[serde(default)]
    schema: Option<String>,
}

/// The verified claims, as printed by `ssi token verify`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifiedOutput<'a> {
    partner_user_id: &'a str,
    platform_user_id: &'a str,
    link_id: &'a str,
    device_id: &'a str,
    ctx: &'a BTreeMap<String, String>,
    linked_at: i64,
    issued_at: i64,
    expires_at: i64,
    jti: &'a str,
}

fn verify(args: VerifyArgs, clock: &dyn Clock) -> Result<ExitCode> {
    let input = arg_or_stdin(&args.token, "--token")?;
    let (token, schema) = if input.starts_with('{') {
        let object: TokenObject = serde_json::from_str(&input)
            .context("--token is JSON but not a {\"token\",\"schema\"} object")?;
        (object.token, object.schema.unwrap_or(args.schema))
    } else {
        (input, args.schema)
    };
    let keys = read_key(
        &args.link_token_key,
        "link-token key",
        LinkTokenKeys::from_json,
    )?;
    let options = VerifyOptions {
        link_token_keys: &keys,
        identity_provider_name: &args.idp,
        issuer: &args.issuer,
    };
    // One token per run, so a fresh in-memory replay store: replays across
    // runs are the partner's store's business.
    let replay = InMemoryReplayStore::new();
    match verify_ssi_token(&schema, &token, &options, now_or(args.now, clock), &replay) {
        Ok(verified) => {
            print_json(&VerifiedOutput {
                partner_user_id: &verified.partner_user_id,
                platform_user_id: &verified.platform_user_id,
                link_id: &verified.link_id,
                device_id: &verified.device_id,
                ctx: &verified.ctx,
                linked_at: verified.linked_at,
                issued_at: verified.issued_at,
                expires_at: verified.expires_at,
                jti: &verified.jti,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("ssi: token refused: {error}");
            print_json(&RefusedOutput {
                error: error.kind.code(),
                step: error.kind.step(),
                detail: &error.detail,
            })?;
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}

fn mint(args: MintArgs, clock: &dyn Clock) -> Result<ExitCode> {
    ssi_proto::validate_link_id(&args.link_id).context("--link-id is not valid")?;
    ssi_proto::validate_identity_provider_name(&args.audience)
        .context("--audience is not valid")?;
    for (flag, value) in [
        ("--subject", &args.subject),
        ("--issuer", &args.issuer),
        ("--device-id", &args.device_id),
    ] {
        if value.is_empty() {
            bail!("{flag} must not be empty");
        }
    }
    let link_token = link_token_input(&arg_or_stdin(&args.link_token, "--link-token")?)?;
    let signing_key = read_key(&args.signing_key, "link signing key", |text| {
        LinkSigningKey::from_jwk_json(text)
    })?;
    let token = mint_ssi_token(
        &MintRequest {
            issuer: &args.issuer,
            audience: &args.audience,
            subject: &args.subject,
            link_id: &args.link_id,
            link_token: &link_token,
            device_id: &args.device_id,
        },
        &signing_key,
        now_or(args.now, clock),
        &mut SystemRandom,
    );
    if token.len() > MAX_SSI_TOKEN_BYTES {
        bail!(
            "the SSI token is {} bytes, over the {MAX_SSI_TOKEN_BYTES}-byte limit",
            token.len()
        );
    }
    print_json(&Token::ssi(token))?;
    Ok(ExitCode::SUCCESS)
}

/// The link token from `--link-token`: the bare token, a `{"token","schema"}`
/// object, or the whole output of `ssi token link-token`.
fn link_token_input(input: &str) -> Result<String> {
    let token = if input.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(input).context("--link-token is not valid JSON")?;
        let object = value.get("linkToken").unwrap_or(&value);
        let object: TokenObject = serde_json::from_value(object.clone()).context(
            "--link-token JSON is neither {\"token\",\"schema\"} nor `ssi token link-token` output",
        )?;
        if let Some(schema) = &object.schema
            && schema != LINK_TOKEN_SCHEMA
        {
            bail!("--link-token has schema {schema:?}, expected {LINK_TOKEN_SCHEMA}");
        }
        object.token
    } else {
        input.to_owned()
    };
    if token.is_empty() || token.len() > MAX_LINK_TOKEN_BYTES {
        bail!(
            "--link-token must be 1-{MAX_LINK_TOKEN_BYTES} bytes, got {}",
            token.len()
        );
    }
    Ok(token)
}

fn unseal(args: UnsealArgs) -> Result<ExitCode> {
    let sealed = arg_or_stdin(&args.sealed, "--sealed")?;
    let app_keys = read_key(&args.app_key, "app private key", read_app_keys)?;
    if let Some(out) = &args.out
        && !args.force
        && out.symlink_metadata().is_ok()
    {
        bail!(
            "{}: already exists (use --force to replace it)",
            out.display()
        );
    }
    let app_keys: Vec<&AppKeyPair> = app_keys.iter().collect();
    match unseal_link_signing_key(&sealed, &app_keys) {
        Ok(key) => {
            if let Some(out) = &args.out {
                write_private_files(&[(out, to_json(&key.to_jwk()))], args.force)?;
            }
            print_json(&UnsealOutput {
                status: RequestStatus::Successful.as_str(),
                verification_key: Some(key.verification_key().to_jwk()),
                detail: None,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("ssi: sealed key refused: {error} ({})", error.detail());
            print_json(&UnsealOutput {
                status: error.request_status(),
                verification_key: None,
                detail: Some(error.detail()),
            })?;
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}

/// One private app JWK, or a set `{"keys":[...]}` of them.
fn read_app_keys(text: &str) -> Result<Vec<AppKeyPair>, KeyError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AppJwkSet {
        keys: Vec<AppJwk>,
    }
    if let Ok(set) = serde_json::from_str::<AppJwkSet>(text) {
        return set.keys.iter().map(AppKeyPair::from_private_jwk).collect();
    }
    Ok(vec![AppKeyPair::from_private_jwk_json(text)?])
}

fn vectors(args: VectorsArgs) -> Result<ExitCode> {
    let files = ssi_token::vectors::generate();
    fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create the directory", args.out.display()))?;
    let mut written = Vec::with_capacity(files.len());
    for (name, contents) in files {
        let relative = Path::new(name);
        if relative.is_absolute()
            || relative
                .components()
                .any(|part| !matches!(part, std::path::Component::Normal(_)))
        {
            bail!("vector file name {name:?} is not a plain relative path");
        }
        let path = args.out.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("{}: cannot create the directory", parent.display()))?;
        }
        fs::write(&path, contents).with_context(|| format!("{}: cannot write", path.display()))?;
        written.push(name);
    }
    print_json(&VectorsOutput {
        dir: &args.out,
        files: written,
    })?;
    Ok(ExitCode::SUCCESS)
}

fn parse_ctx_entry(entry: &str) -> Result<(String, String), String> {
    match entry.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!(
            "expected KEY=VALUE with a non-empty KEY, got {entry:?}"
        )),
    }
}

/// The value of a flag, or stdin when it is `-`; surrounding whitespace removed.
fn arg_or_stdin(value: &str, flag: &str) -> Result<String> {
    if value != "-" {
        return Ok(value.trim().to_owned());
    }
    let mut text = String::new();
    io::stdin()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("{flag} -: cannot read stdin"))?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        bail!("{flag} -: stdin is over {MAX_INPUT_BYTES} bytes");
    }
    Ok(text.trim().to_owned())
}

/// Reads a JWK file and parses it, naming the file in every error.
fn read_key<T>(
    path: &Path,
    what: &str,
    parse: impl FnOnce(&str) -> Result<T, KeyError>,
) -> Result<T> {
    let text = read_small_file(path).with_context(|| format!("{what} file {}", path.display()))?;
    if let Err(error) = serde_json::from_str::<serde_json::Value>(&text) {
        bail!("{what} file {}: not JSON: {error}", path.display());
    }
    parse(&text)
        .map_err(|error| anyhow!("{what} file {}: not a valid JWK: {error}", path.display()))
}

fn read_small_file(path: &Path) -> Result<String> {
    let file = fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_INPUT_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        bail!("over {MAX_INPUT_BYTES} bytes");
    }
    Ok(text)
}

/// Writes each file with mode 0600. Without `force` no existing file is
/// touched: all targets are checked first and each is created exclusively.
fn write_private_files(files: &[(&Path, String)], force: bool) -> Result<()> {
    if !force {
        for (path, _) in files {
            if path.symlink_metadata().is_ok() {
                bail!(
                    "{}: already exists (use --force to replace it)",
                    path.display()
                );
            }
        }
    }
    for (path, contents) in files {
        if force {
            // Write beside it, then rename over it: the old file and its
            // mode are replaced whole, never left half-written.
            let name = path
                .file_name()
                .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
            let temp = path.with_file_name(format!(
                ".{}.{}.tmp",
                name.to_string_lossy(),
                std::process::id()
            ));
            write_new_private_file(&temp, contents)?;
            if let Err(error) = fs::rename(&temp, path) {
                let _ = fs::remove_file(&temp);
                bail!("{}: cannot replace: {error}", path.display());
            }
        } else {
            write_new_private_file(path, contents)?;
        }
    }
    Ok(())
}

fn write_new_private_file(path: &Path, contents: &str) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| match error.kind() {
            io::ErrorKind::AlreadyExists => {
                anyhow!(
                    "{}: already exists (use --force to replace it)",
                    path.display()
                )
            }
            _ => anyhow!("{}: cannot create: {error}", path.display()),
        })?;
    // The umask can only clear bits, but make the mode exact anyway.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(contents.as_bytes()))
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}: cannot write", path.display()))
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).expect("JWKs serialize")
}

fn print_json(value: &impl Serialize) -> Result<()> {
    let mut stdout = io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}
