"""Planning: from the schedule's files to the posts, as pure functions.

The pipeline reads a schedule (yamlfile, schedule), fills its templates and its hashtags
(compose), counts and checks each text as X will (tweettext, normal, values), and reports
every problem with its file and line (check). Nothing here opens a store, a socket or a
network connection, or keeps state between calls: the same files give the same posts.
"""
