DROP TABLE test_inbox_requests;
DROP TABLE test_inboxes;
