package pin_test

import "database/sql"

// sqlOpenDeferred opens a database the way a careless caller might: plain
// deferred transactions, no _txlock=immediate.
func sqlOpenDeferred(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
}
