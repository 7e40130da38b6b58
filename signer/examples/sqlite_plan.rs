//! Prints SQLite's query plans for the batch queries (developer tool).
fn main() {
    let dir = std::env::temp_dir().join(format!("plan-{}", std::process::id()));
    let db =
        poolvc_signer::slashing::sqlite::SqliteSlashingDb::open(&dir.join("p.sqlite"), Default::default()).unwrap();
    drop(db);
    let conn = rusqlite::Connection::open(dir.join("p.sqlite")).unwrap();
    rusqlite::vtab::array::load_module(&conn).unwrap();
    for sql in [
        "EXPLAIN QUERY PLAN SELECT validator_id, source_epoch, target_epoch, signing_root, imported FROM signed_attestations WHERE validator_id IN rarray(?1) AND target_epoch >= ?2",
        "EXPLAIN QUERY PLAN SELECT validator_id, source_epoch, target_epoch, signing_root, imported FROM signed_attestations INDEXED BY signed_attestations_source WHERE validator_id IN rarray(?1) AND source_epoch > ?2 AND target_epoch < ?2",
        "EXPLAIN QUERY PLAN SELECT validator_id, block_slot, att_source, att_target FROM watermarks WHERE validator_id IN rarray(?1)",
    ] {
        let mut s = conn.prepare(sql).unwrap();
        let ids = std::rc::Rc::new(vec![rusqlite::types::Value::Integer(1)]);
        let mut rows = if s.parameter_count() == 2 {
            s.query(rusqlite::params![ids, 5]).unwrap()
        } else {
            s.query(rusqlite::params![ids]).unwrap()
        };
        while let Some(r) = rows.next().unwrap() {
            println!("{}", r.get::<_, String>(3).unwrap());
        }
        println!("--");
    }
}
