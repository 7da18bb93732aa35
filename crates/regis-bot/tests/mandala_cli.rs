//! `regis mandala` run as a user would: files written, arguments checked, no bot started.

use std::path::Path;
use std::process::Command;

fn regis_mandala(dir: &Path, args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_regis"))
        .arg("mandala")
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("regis runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Width and height of a PNG file, decoded in full.
fn png_size(path: &Path) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("PNG pixels");
    (info.width, info.height)
}

#[test]
fn out_writes_one_png_of_the_given_size() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--seed", "1234", "--size", "320x240", "--symmetry", "8", "--style", "bezier", "--out", "m.png"];
    let (stdout, stderr, ok) = regis_mandala(dir.path(), &args);
    assert!(ok, "{stderr}");
    assert_eq!(png_size(&dir.path().join("m.png")), (320, 240));
    assert!(stdout.starts_with("m.png: seed 1234, symmetry 8, "), "{stdout}");
    assert!(stdout.contains(", bezier (320x240, "), "{stdout}");
    assert!(!dir.path().join("regis-data").exists(), "no bot, no data directory");

    let (_, stderr, ok) = regis_mandala(dir.path(), &args.map(|a| if a == "m.png" { "again.png" } else { a }));
    assert!(ok, "{stderr}");
    let (a, b) =
        (std::fs::read(dir.path().join("m.png")).unwrap(), std::fs::read(dir.path().join("again.png")).unwrap());
    assert!(a == b, "same arguments, same bytes");
}

#[test]
fn count_writes_that_many_files_into_out_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr, ok) = regis_mandala(dir.path(), &["--count", "3", "--size", "64x48", "--out-dir", "batch"]);
    assert!(ok, "{stderr}");
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("batch")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 3, "{stdout}");
    for file in &files {
        assert_eq!(png_size(file), (64, 48));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("mandala-") && name.ends_with(".png"), "{name}");
        assert!(stdout.contains(&format!("{name}: seed ")), "{stdout}");
    }
    assert!(stdout.lines().last().unwrap_or_default().starts_with("wrote 3 mandala(s) to batch in "), "{stdout}");

    let (stdout, stderr, ok) =
        regis_mandala(dir.path(), &["--seed", "41", "--count", "2", "--size", "32x32", "--out-dir", "seq"]);
    assert!(ok, "{stderr}");
    assert!(
        dir.path().join("seq/mandala-41.png").exists() && dir.path().join("seq/mandala-42.png").exists(),
        "{stdout}"
    );
    let first = stdout.find("mandala-41.png").unwrap();
    assert!(first < stdout.find("mandala-42.png").unwrap(), "printed in seed order: {stdout}");
}

#[test]
fn bad_arguments_are_errors_naming_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 8] = [
        // The largest seed `/mando` takes is the largest here too.
        (&["--seed", "9007199254740993", "--out", "x.png"], "9007199254740993 is not in 0..=9007199254740992"),
        (&["--seed", "9007199254740992", "--count", "2", "--out-dir", "d"], "goes past the largest seed (2^53"),
        (&["--symmetry", "2", "--out", "x.png"], "symmetry must be between 3 and 20, got 2"),
        (&["--rings", "30", "--out", "x.png"], "rings must be between 4 and 19, got 30"),
        (&["--size", "8x100", "--out", "x.png"], "width must be between 16 and 4096 pixels, got 8"),
        (&["--size", "big", "--out", "x.png"], "expected WIDTHxHEIGHT"),
        (&["--out", "x.png", "--out-dir", "d"], "cannot be used with"),
        (&["--seed", "3"], "required arguments were not provided"),
    ];
    for (args, message) in cases {
        let (_, stderr, ok) = regis_mandala(dir.path(), args);
        assert!(!ok, "{args:?} should fail");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let (_, stderr, ok) = regis_mandala(dir.path(), &["--count", "2", "--out", "x.png"]);
    assert!(!ok && stderr.contains("--count"), "{stderr}");
    assert!(!dir.path().join("x.png").exists(), "nothing written");
}

#[test]
fn a_broken_configuration_does_not_stop_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("regis.toml"), "workers = \"lots\"\n").unwrap();
    let (_, stderr, ok) = regis_mandala(dir.path(), &["--size", "32x32", "--out", "m.png"]);
    assert!(ok, "{stderr}");
    assert_eq!(png_size(&dir.path().join("m.png")), (32, 32));
}

/// The `console` blocks between the mandala guide page's `mando:start` and `mando:end` markers: each is
/// either one `$ printf '...' | ... console` session or a series of `$ regis mandala ...` runs.
fn readme_blocks() -> Vec<String> {
    let readme = include_str!("../../../docs/guide/mandala.md");
    let start = readme.find("<!-- mando:start -->").expect("mando:start marker");
    let end = readme.find("<!-- mando:end -->").expect("mando:end marker");
    readme[start..end]
        .split("```console\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap_or_default().to_string())
        .collect()
}

fn run_console(dir: &Path, input: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_regis"))
        .arg("console")
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start regis");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("regis runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn readme_mando_sessions_match_the_program() {
    let blocks = readme_blocks();
    assert_eq!(blocks.len(), 3, "two console sessions and one command-line series");
    for block in blocks {
        let dir = tempfile::tempdir().unwrap();
        if let Some(session) = block.strip_prefix("$ printf '") {
            let (input, rest) = session.split_once("' | ").expect("printf '...' | regis console");
            let expected = rest.split_once('\n').map(|(_, output)| output).unwrap_or_default();
            assert_eq!(run_console(dir.path(), &input.replace("\\n", "\n")), expected);
            continue;
        }
        for run in block.split("$ regis mandala ").skip(1) {
            let (args, expected) = run.split_once('\n').expect("a command line and its output");
            let args: Vec<&str> = args.split_whitespace().collect();
            let (stdout, stderr, ok) = regis_mandala(dir.path(), &args);
            assert!(ok, "{args:?}: {stderr}");
            // The summary's timing differs from run to run: the guide elides it with `…`.
            let (shown, expected) = match expected.strip_suffix(" in …\n") {
                Some(head) => (stdout.rsplit_once(" in ").map_or(stdout.as_str(), |(h, _)| h), head),
                None => (stdout.as_str(), expected),
            };
            assert_eq!(shown, expected, "output of `regis mandala {args:?}` differs from docs/guide/mandala.md");
        }
    }
}

#[test]
fn the_readme_image_is_what_the_readme_command_draws() {
    let dir = tempfile::tempdir().unwrap();
    run_console(dir.path(), "!mando 26 fill\n");
    let drawn = std::fs::read(dir.path().join("regis-data/uploads/mandala-26.png")).expect("the upload");
    let shown = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/mandala-1.png")).expect("docs image");
    assert!(drawn == shown, "docs/mandala-1.png is not what `!mando 26 fill` draws");
}
