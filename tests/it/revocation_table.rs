//! The README's revocation table is the one `quench rules revocation` prints from the recipes,
//! so the documented paths (kind, call, what confirms them) cannot drift from what quench does.

use crate::common::run_in;

#[test]
fn the_readme_revocation_table_is_the_one_the_recipes_print() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (start, end) = (
        "<!-- revocation-table:start -->\n",
        "<!-- revocation-table:end -->",
    );
    let from = readme
        .find(start)
        .expect("README has the revocation table's start marker")
        + start.len();
    let to = readme[from..].find(end).expect("and its end marker") + from;
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["rules", "revocation"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        &readme[from..to],
        printed,
        "README.md's revocation table differs from `quench rules revocation`: paste its output between the markers"
    );
    // Every row names a kind the recipe language knows and a confirmation.
    let rows: Vec<&str> = printed.lines().filter(|l| l.starts_with("| `")).collect();
    assert!(rows.len() >= 50, "{printed}");
    for row in &rows {
        let cells: Vec<&str> = row.split(" | ").collect();
        assert!(
            ["public", "self", "admin", "self+admin"].contains(&cells[1]),
            "{row}"
        );
        assert!(cells[3].contains("accepted"), "{row}");
    }
    assert!(
        printed.contains("`twilio.api-key-secret` | self+admin"),
        "{printed}"
    );
}
