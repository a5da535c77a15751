//! `-f html` checked the way a reader sees it: Debian's `chromium` (headless) parses the page
//! into its DOM (`--dump-dom`) and renders it to a PNG, with the network shut off. The DOM must
//! hold the legend, the logarithmic axis and, per key, principal, repository, commit, exposure
//! window and status; the PNG must show the chart's colours; no secret may be anywhere in it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::fake::{self, Gen};
use crate::common::fake_git::git_cmd;
use crate::common::fake_verify::SimProc;
use crate::common::run_in;

/// The browser, or a failure that names it: a missing tool fails the test, never skips it.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "chromium not found on PATH: the HTML report is checked in a headless browser. \
         Install Debian's `chromium` (apt-get install chromium) or run `bash .ci/run`"
    );
}

/// Runs headless chromium on `page` with no network and a profile of its own.
fn browse(page: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            // Any host lookup fails: a page that needed the network would render broken.
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", profile)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what chromium writes), as RGB.
fn png_pixels(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    use std::io::Read as _;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut pos, mut idat) = (8, Vec::new());
    let (mut w, mut h, mut channels) = (0u32, 0u32, 0usize);
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap());
                h = u32::from_be_bytes(data[4..8].try_into().unwrap());
                assert_eq!(data[8], 8, "bit depth");
                assert_eq!(data[12], 0, "interlace");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("PNG colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        pos += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w as usize * channels;
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for row in raw.chunks(stride + 1).take(h as usize) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels {
                cur[i - channels] as i16
            } else {
                0
            };
            let b = prev[i] as i16;
            let c = if i >= channels {
                prev[i - channels] as i16
            } else {
                0
            };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            cur[i] = line[i].wrapping_add(pred as u8);
        }
        pixels.extend(cur.chunks(channels).map(|p| [p[0], p[1], p[2]]));
        prev = cur;
    }
    (w, h, pixels)
}

/// Commits `files` with an author date `age` seconds ago; returns the commit id.
fn commit_aged(dir: &Path, files: &[(&str, &str)], msg: &str, age: i64) -> String {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let when = (chrono::Utc::now() - chrono::Duration::seconds(age)).to_rfc3339();
    let run = |args: &[&str]| {
        let out = git_cmd(dir)
            .args(args)
            .env("GIT_AUTHOR_DATE", &when)
            .env("GIT_COMMITTER_DATE", &when)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    run(&["add", "-A"]);
    run(&["commit", "-q", "-m", msg]);
    run(&["rev-parse", "HEAD"])
}

#[test]
fn the_html_report_renders_in_chromium_with_legend_log_axis_and_each_keys_facts() {
    let mut g = Gen::new(1901);
    let live = fake::github(&mut g, "ghp");
    let dead = fake::github(&mut g, "ghp");
    let sim = SimProc::start(&format!(
        "[[key]]\nissuer = \"github\"\nsecret = \"{live}\"\nprincipal = \"octo-ci\"\norg = \"acme\"\nscopes = [\"repo\", \"gist\"]\n"
    ));
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    let init = git_cmd(r).args(["init", "-q", "-b", "main"]).output().unwrap();
    assert!(init.status.success());
    // Twelve days beside one hour: the spread a linear axis could not show.
    let old = commit_aged(
        r,
        &[("deploy.env", &format!("GITHUB_TOKEN={live}\n"))],
        "add deploy config",
        12 * 86400,
    );
    let new = commit_aged(r, &[("ci.env", &format!("TOKEN={dead}\n"))], "ci token", 3600);

    let cfg = sim.config.display().to_string();
    let out = run_in(
        r,
        &[
            "git",
            ".",
            "--verify",
            "--config",
            &cfg,
            "-f",
            "html",
            "-o",
            "report.html",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = r.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for s in [&live, &dead] {
        assert!(!html.contains(s.as_str()), "a secret is in the HTML report");
    }
    // Self-contained: the only URL in the page is the SVG namespace.
    let urls: Vec<&str> = html
        .match_indices("http")
        .map(|(i, _)| &html[i..(i + 26).min(html.len())])
        .collect();
    assert!(
        urls.iter().all(|u| u.starts_with("http://www.w3.org/2000/svg")),
        "{urls:?}"
    );

    let profile = tempfile::tempdir().unwrap();
    let dom = String::from_utf8(browse(&page, profile.path(), &["--dump-dom"]).stdout).unwrap();
    // What the browser built, element by element (its serialisation, not our text).
    assert!(dom.contains("id=\"legend\""), "no legend in the DOM");
    for entry in [
        "exposed, not yet detected",
        "detected, key may still work",
        "detected, confirmed dead",
    ] {
        assert!(dom.contains(entry), "legend lacks {entry:?}");
    }
    assert!(dom.contains("class=\"axis log\""), "no log axis");
    // Log ticks from a second to the axis end past twelve days, each decade-ish step present.
    for tick in ["1s", "1m", "1h", "1d", "7d", "30d"] {
        assert!(dom.contains(&format!(">{tick}</text>")), "tick {tick} missing");
    }
    let rows: Vec<&str> = dom.split("<tr class=\"finding\"").skip(1).collect();
    assert_eq!(rows.len(), 2, "{dom}");
    let cell = |row: &str, class: &str| -> String {
        let start = row
            .find(&format!("class=\"{class}"))
            .unwrap_or_else(|| panic!("no {class} cell"));
        let rest = &row[start..];
        let open = rest.find('>').unwrap() + 1;
        rest[open..rest.find("</td>").unwrap()].to_string()
    };
    // Rows are sorted longest exposure first: the twelve-day-old live key leads.
    let (first, second) = (rows[0], rows[1]);
    assert!(cell(first, "principal").contains("octo-ci (acme)"));
    assert!(cell(first, "reach").contains("repo, gist"));
    assert_eq!(cell(first, "status st-"), "live");
    assert!(cell(first, "commit").contains(&old[..10]));
    assert!(cell(first, "commit").contains("Ada Tester"));
    assert!(cell(first, "repository").contains('.'));
    assert!(cell(first, "location").contains("deploy.env:1"));
    assert!(
        cell(first, "window").starts_with("12d"),
        "{}",
        cell(first, "window")
    );
    assert!(cell(first, "window").contains("open"));
    assert_eq!(cell(second, "status st-"), "dead");
    assert!(cell(second, "commit").contains(&new[..10]));
    assert!(
        cell(second, "window").starts_with("1h"),
        "{}",
        cell(second, "window")
    );
    assert!(cell(second, "window").contains("closed"));

    let png = profile.path().join("report.png");
    browse(
        &page,
        profile.path(),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,900",
        ],
    );
    let (w, h, pixels) = png_pixels(&std::fs::read(&png).unwrap());
    assert_eq!((w, h), (1280, 900));
    // The bars and swatches painted: the grey before detection, the red of the live key, the
    // green of the dead one.
    for (name, rgb) in [
        ("grey", [0x9a, 0xa3, 0xad]),
        ("red", [0xd6, 0x45, 0x45]),
        ("green", [0x2e, 0x9d, 0x5b]),
    ] {
        let n = pixels.iter().filter(|p| **p == rgb).count();
        assert!(n > 100, "{name} drawn on {n} pixels only");
    }
}

#[test]
fn html_refuses_show_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["scan", ".", "-f", "html", "--show-secrets"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never shows secrets"));
}

/// Runs a poppler tool (`pdfinfo`, `pdftotext`, `pdftoppm`), or fails naming the package.
fn poppler(tool: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("{tool}: {e}: the printed report is read with poppler (apt-get install poppler-utils, or run `bash .ci/run`)")
    });
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_html_report_prints_on_landscape_pages_with_every_column_repeated_headers_and_colour() {
    // Enough keys that the findings table runs over more than one printed page.
    let mut g = Gen::new(1902);
    let keys: Vec<String> = (0..45).map(|_| fake::github(&mut g, "ghp")).collect();
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    let init = git_cmd(r).args(["init", "-q", "-b", "main"]).output().unwrap();
    assert!(init.status.success());
    let body: String = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("SERVICE_{i}_TOKEN={k}\n"))
        .collect();
    // A long path, which must wrap rather than push the table off the page.
    std::fs::create_dir_all(r.join("services/payments-gateway/deploy/overlays")).unwrap();
    commit_aged(
        r,
        &[(
            "services/payments-gateway/deploy/overlays/production-eu-west-1.env",
            &body,
        )],
        "add tokens",
        3 * 86400,
    );
    let out = run_in(r, &["git", ".", "-f", "html", "-o", "report.html"], None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = r.join("report.html");

    let profile = tempfile::tempdir().unwrap();
    let pdf = profile.path().join("report.pdf");
    browse(
        &page,
        profile.path(),
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
    );
    let pdf_s = pdf.to_str().unwrap();
    let info = String::from_utf8(poppler("pdfinfo", &[pdf_s])).unwrap();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{info}"))
            .trim()
            .to_string()
    };
    // A4 in landscape: about 842 x 595 points (a browser's default is portrait Letter).
    let size = field("Page size:");
    let dims: Vec<f64> = size.split_whitespace().filter_map(|t| t.parse().ok()).collect();
    assert!(
        dims.len() == 2 && (dims[0] - 842.0).abs() < 2.0 && (dims[1] - 595.0).abs() < 2.0,
        "{size}"
    );
    let pages: usize = field("Pages:").parse().unwrap();
    assert!(pages >= 2, "45 findings on {pages} page(s)");

    // Every page carries the table's header (a <thead> repeats), and the last column is never
    // cut off: each key's row ends in its exposure window.
    let mut all = String::new();
    for p in 1..=pages {
        let n = p.to_string();
        let text =
            String::from_utf8(poppler("pdftotext", &["-layout", "-f", &n, "-l", &n, pdf_s, "-"])).unwrap();
        // A page with rows of the findings table (each row ends in its window, "… (open)").
        if text.contains("(open)") {
            for header in [
                "key",
                "status",
                "identity",
                "principal",
                "repository",
                "commit",
                "location",
            ] {
                assert!(
                    text.contains(header),
                    "page {p} lacks the header {header:?}:\n{text}"
                );
            }
        }
        all.push_str(&text);
    }
    assert_eq!(
        all.matches("(open)").count(),
        keys.len(),
        "a row lost its last column:\n{all}"
    );
    for k in &keys {
        assert!(!all.contains(k.as_str()), "a secret is in the printed report");
    }

    // The first page is printed in colour: the chart's red bars survive printing.
    let png_base = profile.path().join("page");
    poppler(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "96",
            "-f",
            "1",
            "-l",
            "1",
            pdf_s,
            png_base.to_str().unwrap(),
        ],
    );
    let png = std::fs::read_dir(profile.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with("page")
                && p.extension().is_some_and(|e| e == "png")
        })
        .expect("pdftoppm wrote page 1");
    let (w, h, pixels) = png_pixels(&std::fs::read(&png).unwrap());
    assert!(w > h, "landscape page rendered {w}x{h}");
    let near = |p: &[u8; 3], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 10);
    let red = pixels.iter().filter(|p| near(p, [0xd6, 0x45, 0x45])).count();
    let grey = pixels.iter().filter(|p| near(p, [0x9a, 0xa3, 0xad])).count();
    assert!(
        red > 100 && grey > 100,
        "printed chart: {red} red, {grey} grey pixels"
    );
}
