DROP TABLE test_sends;
