-- A livetweet store of schema 5 (one event, a posted draft and a reply to it), as livetweet wrote it
-- before deliveries: for the schema 5 -> 6 migration test.
BEGIN TRANSACTION;
CREATE TABLE audit (
	id INTEGER NOT NULL, 
	draft_id INTEGER, 
	event_id VARCHAR(200), 
	at DATETIME NOT NULL, 
	operator VARCHAR(200) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	from_state VARCHAR(16), 
	to_state VARCHAR(16), 
	revision INTEGER, 
	reason TEXT, 
	detail TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(draft_id) REFERENCES drafts (id)
);
INSERT INTO "audit" VALUES(1,1,'demo','2020-11-12 12:30:00.000000','schedule','create',NULL,'pending',1,NULL,NULL);
INSERT INTO "audit" VALUES(2,2,'demo','2020-11-12 12:30:00.000000','schedule','create',NULL,'pending',1,NULL,NULL);
CREATE TABLE console_sessions (
	id_hash VARCHAR(64) NOT NULL, 
	operator VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	seen_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY (id_hash)
);
CREATE TABLE console_tokens (
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	used_at DATETIME, 
	PRIMARY KEY (token_hash)
);
CREATE TABLE drafts (
	id INTEGER NOT NULL, 
	event_id VARCHAR(200) NOT NULL, 
	slot VARCHAR(200) NOT NULL, 
	segment VARCHAR(200) NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	template VARCHAR(200) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	revision INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	planned_text TEXT NOT NULL, 
	weighted_length INTEGER NOT NULL, 
	hashtags TEXT NOT NULL, 
	wanted_hashtags TEXT NOT NULL, 
	planned_at DATETIME NOT NULL, 
	at DATETIME NOT NULL, 
	valid_until DATETIME NOT NULL, 
	reply_to VARCHAR(200), 
	approved_revision INTEGER, 
	approved_by VARCHAR(200), 
	approved_at DATETIME, 
	tweet_id VARCHAR(64), 
	posted_at DATETIME, 
	claimed_at DATETIME, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	next_attempt_at DATETIME, 
	last_error TEXT, 
	claim_epoch INTEGER, 
	media TEXT, 
	version INTEGER NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_drafts_event_slot UNIQUE (event_id, slot), 
	FOREIGN KEY(event_id) REFERENCES events (id)
);
INSERT INTO "drafts" VALUES(1,'demo','hello','opening','schedule','hello','posted',1,'post 1 #demo','post 1 #demo',12,'["#demo"]','["#demo"]','2020-11-12 12:31:00.000000','2020-11-12 12:31:00.000000','2020-11-12 12:36:00.000000',NULL,1,'ana','2020-11-12 12:30:00.000000','1001','2020-11-12 12:31:00.000000',NULL,0,NULL,NULL,NULL,NULL,3,'2020-11-12 12:30:00.000000');
INSERT INTO "drafts" VALUES(2,'demo','thread','opening','schedule','hello','approved',1,'post 2 #demo','post 2 #demo',12,'["#demo"]','["#demo"]','2020-11-12 12:32:00.000000','2020-11-12 12:32:00.000000','2020-11-12 12:37:00.000000','hello',1,'ana','2020-11-12 12:30:00.000000',NULL,NULL,NULL,0,NULL,NULL,NULL,NULL,3,'2020-11-12 12:30:00.000000');
CREATE TABLE events (
	id VARCHAR(200) NOT NULL, 
	title TEXT NOT NULL, 
	account VARCHAR(64) NOT NULL, 
	timezone VARCHAR(64) NOT NULL, 
	schedule_path TEXT NOT NULL, 
	mode VARCHAR(16) NOT NULL, 
	starts_at DATETIME NOT NULL, 
	ends_at DATETIME NOT NULL, 
	posts_from DATETIME, 
	posts_until DATETIME, 
	loaded_at DATETIME NOT NULL, 
	x_usd_per_day FLOAT, 
	PRIMARY KEY (id)
);
INSERT INTO "events" VALUES('demo','Demo','@demo','Europe/Zurich','/x/demo.yaml','approval','2020-11-12 12:30:00.000000','2020-11-12 13:30:00.000000',NULL,NULL,'2020-11-12 12:30:00.000000',NULL);
CREATE TABLE inbox (
	id INTEGER NOT NULL, 
	dm_id VARCHAR(64) NOT NULL, 
	sender_id VARCHAR(64) NOT NULL, 
	sender_username VARCHAR(64) NOT NULL, 
	text TEXT NOT NULL, 
	original TEXT NOT NULL, 
	received_at DATETIME NOT NULL, 
	conversation_id VARCHAR(128) NOT NULL, 
	media_keys TEXT NOT NULL, 
	media TEXT, 
	state VARCHAR(16) NOT NULL, 
	draft_id INTEGER, 
	fetched_at DATETIME NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (dm_id), 
	FOREIGN KEY(draft_id) REFERENCES drafts (id)
);
CREATE TABLE lease (
	name VARCHAR(32) NOT NULL, 
	epoch INTEGER NOT NULL, 
	holder VARCHAR(64) NOT NULL, 
	pid INTEGER, 
	host VARCHAR(255), 
	kind VARCHAR(16), 
	since DATETIME, 
	heartbeat DATETIME, 
	clock TEXT, 
	x_api_url TEXT, 
	PRIMARY KEY (name)
);
INSERT INTO "lease" VALUES('runner',0,'',NULL,NULL,NULL,NULL,NULL,NULL,NULL);
CREATE TABLE livetweet_meta (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "livetweet_meta" VALUES('app','livetweet');
INSERT INTO "livetweet_meta" VALUES('schema_version','5');
CREATE TABLE media (
	sha256 VARCHAR(64) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	width INTEGER NOT NULL, 
	height INTEGER NOT NULL, 
	size INTEGER NOT NULL, 
	data BLOB NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (sha256)
);
CREATE TABLE revisions (
	draft_id INTEGER NOT NULL, 
	revision INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	cause VARCHAR(32) NOT NULL, 
	PRIMARY KEY (draft_id, revision), 
	FOREIGN KEY(draft_id) REFERENCES drafts (id)
);
INSERT INTO "revisions" VALUES(1,1,'post 1 #demo','schedule','2020-11-12 12:30:00.000000','load');
INSERT INTO "revisions" VALUES(2,1,'post 2 #demo','schedule','2020-11-12 12:30:00.000000','load');
CREATE TABLE segments (
	event_id VARCHAR(200) NOT NULL, 
	id VARCHAR(200) NOT NULL, 
	title TEXT NOT NULL, 
	planned_start DATETIME NOT NULL, 
	planned_end DATETIME NOT NULL, 
	hashtags TEXT NOT NULL, 
	position INTEGER NOT NULL, 
	PRIMARY KEY (event_id, id), 
	FOREIGN KEY(event_id) REFERENCES events (id)
);
CREATE TABLE settings (
	"key" VARCHAR(100) NOT NULL, 
	value TEXT NOT NULL, 
	as_of VARCHAR(32) NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "settings" VALUES('paused','','');
CREATE TABLE shifts (
	id INTEGER NOT NULL, 
	event_id VARCHAR(200) NOT NULL, 
	from_planned DATETIME, 
	seconds INTEGER NOT NULL, 
	"by" VARCHAR(200) NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(event_id) REFERENCES events (id)
);
CREATE INDEX ix_drafts_event_state_until ON drafts (event_id, state, valid_until);
CREATE INDEX ix_drafts_event_reply_to ON drafts (event_id, reply_to);
CREATE INDEX ix_drafts_state_at ON drafts (state, at);
CREATE INDEX ix_audit_draft ON audit (draft_id, id);
CREATE INDEX ix_inbox_state ON inbox (state, received_at);
COMMIT;
