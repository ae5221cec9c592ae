//! How users install and discover triage: `--version` with the git revision, shell completions
//! that a real bash completes with, a man page that groff renders, the `kubectl-triage` plugin
//! that the real kubectl finds and runs, and the krew manifest template.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn triage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_triage"))
}

fn run_ok(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn version_names_the_package_version_and_a_real_git_revision() {
    let mut cmd = triage();
    cmd.arg("--version");
    let out = run_ok(cmd, "triage --version");
    let line = String::from_utf8(out.stdout).expect("utf-8 version");
    let line = line.trim();
    let expected_prefix = format!("triage {} (rev ", env!("CARGO_PKG_VERSION"));
    assert!(
        line.starts_with(&expected_prefix) && line.ends_with(')'),
        "unexpected --version line {line:?}; want {expected_prefix}<revision>)"
    );
    let revision = &line[expected_prefix.len()..line.len() - 1];
    let revision = revision.strip_suffix("-dirty").unwrap_or(revision);
    let in_git = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .current_dir(repo_root())
        .output()
        .is_ok_and(|o| o.status.success());
    if !in_git {
        assert_eq!(revision, "unknown", "built outside git: {line:?}");
        return;
    }
    assert_eq!(
        revision.len(),
        12,
        "revision {revision:?} is not 12 hex digits"
    );
    assert!(
        revision.chars().all(|c| c.is_ascii_hexdigit()),
        "revision {revision:?} is not hex"
    );
    // The revision must be a commit of this repository, not a made-up string.
    let status = Command::new("git")
        .args(["cat-file", "-e", &format!("{revision}^{{commit}}")])
        .current_dir(repo_root())
        .status()
        .expect("running git cat-file");
    assert!(status.success(), "revision {revision} is not a commit here");
}

#[test]
fn bash_completion_completes_subcommands_and_options() {
    let Some(bash) = testkit::require_program("bash", "bash_completion_completes_subcommands")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("triage.bash");
    let mut cmd = triage();
    cmd.args(["completions", "bash"]);
    std::fs::write(&script, run_ok(cmd, "triage completions bash").stdout).expect("write script");

    // Drive the completion function the way bash's readline would, for three command lines.
    let complete = |words: &[&str]| -> Vec<String> {
        let line = words.join(" ");
        let words_arr: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n\
             _triage triage '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script.display(),
            words_arr.join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len().saturating_sub(2)],
        );
        let out = Command::new(&bash)
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .expect("running bash");
        assert!(
            out.status.success(),
            "bash completion failed for {line:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };

    let top = complete(&["triage", "sn"]);
    assert_eq!(top, vec!["snapshot".to_string()], "`triage sn<TAB>`");
    let jvm = complete(&["triage", "jvm", ""]);
    for verb in ["heapdump", "threads", "histogram"] {
        assert!(
            jvm.contains(&verb.to_string()),
            "`triage jvm <TAB>` lacks {verb}: {jvm:?}"
        );
    }
    let opts = complete(&["triage", "snapshot", "--no-b"]);
    assert_eq!(
        opts,
        vec!["--no-bundle".to_string()],
        "`triage snapshot --no-b<TAB>`"
    );
}

#[test]
fn zsh_and_fish_completions_cover_every_subcommand() {
    let mut help = triage();
    help.arg("--help");
    let help = String::from_utf8(run_ok(help, "triage --help").stdout).expect("utf-8 help");
    // Subcommands as listed by --help ("Commands:" section, one per line, name first).
    let subcommands: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A long description wraps onto lines indented further; only the name lines count.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "help")
        .collect();
    assert!(
        subcommands.len() >= 6 && subcommands.contains(&"snapshot".to_string()),
        "could not read the subcommands from --help: {subcommands:?}\n{help}"
    );
    for shell in ["zsh", "fish"] {
        let mut cmd = triage();
        cmd.args(["completions", shell]);
        let script = String::from_utf8(run_ok(cmd, "triage completions").stdout).expect("utf-8");
        for sub in &subcommands {
            let named = match shell {
                "fish" => script.contains(&format!("-a \"{sub}\"")),
                _ => script.contains(&format!("'{sub}:")),
            };
            assert!(named, "{shell} completion does not offer `{sub}`");
        }
    }
}

#[test]
fn man_page_renders_with_groff() {
    let Some(groff) = testkit::require_program("groff", "man_page_renders_with_groff") else {
        return;
    };
    let mut cmd = triage();
    cmd.arg("man");
    let roff = run_ok(cmd, "triage man").stdout;
    assert!(
        roff.starts_with(b".ie") || roff.windows(4).any(|w| w == b".TH "),
        "not a roff man page"
    );
    let mut child = Command::new(groff)
        // -k: the help text is UTF-8 (arrows, ellipses); preconv hands it to groff as such.
        .args(["-k", "-man", "-Tutf8", "-ww"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting groff");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &roff).expect("feed groff");
    let out = child.wait_with_output().expect("groff output");
    assert!(out.status.success(), "groff failed");
    let text = String::from_utf8_lossy(&out.stdout);
    // groff emphasises with overstrikes on a terminal device; strip them before reading.
    let plain: String = {
        let mut s = String::new();
        for c in text.chars() {
            if c == '\u{8}' {
                s.pop();
            } else {
                s.push(c);
            }
        }
        s
    };
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "SUBCOMMANDS"] {
        assert!(
            plain.contains(section),
            "man page lacks {section}:\n{plain}"
        );
    }
    for word in ["snapshot", "analyze", "jvm", "completions"] {
        assert!(plain.contains(word), "man page does not mention {word}");
    }
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.trim().is_empty(), "groff warned: {warnings}");
}

#[test]
fn kubectl_finds_and_runs_the_installed_plugin() {
    let Some(kubectl) = testkit::require_program("kubectl", "kubectl_finds_and_runs_the_plugin")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut install = triage();
    install.args(["install-plugin"]).arg(dir.path());
    run_ok(install, "triage install-plugin");
    let plugin = dir.path().join("kubectl-triage");
    assert!(
        plugin.exists(),
        "install-plugin did not create {}",
        plugin.display()
    );

    // Installing twice refuses to overwrite, and says what to do.
    let mut again = triage();
    again.args(["install-plugin"]).arg(dir.path());
    let again = again.output().expect("running install-plugin again");
    assert!(!again.status.success(), "second install-plugin succeeded");
    let message = String::from_utf8_lossy(&again.stderr);
    assert!(
        message.contains("already exists") && message.contains("remove it"),
        "{message}"
    );

    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut list = Command::new(&kubectl);
    list.args(["plugin", "list"]).env("PATH", &path);
    let listed = String::from_utf8_lossy(&run_ok(list, "kubectl plugin list").stdout).to_string();
    assert!(
        listed.contains(&plugin.display().to_string()),
        "kubectl plugin list does not show the plugin:\n{listed}"
    );

    let mut own = triage();
    own.arg("--version");
    let own = run_ok(own, "triage --version").stdout;
    let mut via = Command::new(&kubectl);
    via.args(["triage", "--version"]).env("PATH", &path);
    let via = run_ok(via, "kubectl triage --version").stdout;
    // Run as a plugin, triage names itself the way the user typed it.
    let own = String::from_utf8_lossy(&own);
    let expected = own.replacen("triage ", "kubectl triage ", 1);
    assert_eq!(
        String::from_utf8_lossy(&via),
        expected,
        "kubectl triage runs something else"
    );
}

#[test]
fn krew_manifest_installs_this_binary_as_the_plugin() {
    let text = std::fs::read_to_string(repo_root().join("plugins/triage.yaml"))
        .expect("reading plugins/triage.yaml");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("plugins/triage.yaml parses");
    assert_eq!(
        doc["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(doc["kind"], "Plugin");
    assert_eq!(doc["metadata"]["name"], "triage");
    assert_eq!(
        doc["spec"]["version"],
        format!("v{}", env!("CARGO_PKG_VERSION")),
        "krew version and the package version differ"
    );
    let platforms = doc["spec"]["platforms"].as_array().expect("spec.platforms");
    assert!(!platforms.is_empty());
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        assert_eq!(labels["os"], "linux", "{p}");
        assert!(labels["arch"].is_string(), "{p}");
        let bin = p["bin"].as_str().expect("bin");
        let files = p["files"].as_array().expect("files");
        assert!(
            files
                .iter()
                .any(|f| f["from"] == bin || f["to"] == bin || f["from"] == "triage"),
            "platform does not ship its bin {bin}: {p}"
        );
        let uri = p["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with("https://") && uri.ends_with(".tar.gz"),
            "{uri}"
        );
        assert!(
            uri.contains(&format!("v{}", env!("CARGO_PKG_VERSION"))),
            "{uri}"
        );
    }
}
