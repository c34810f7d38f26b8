"""What the tests share, besides their fixtures (those stay in tests/conftest.py).

- `events`: the repository's paths, the shipped event, and a small event to break in tests (and
  `DEMO_ACCOUNTS`, the accounts block the network tests add to it);
- `databases`: PostgreSQL for the store tests, in a schema of this process's own;
- `world`: the store, clock, simulated X API and dispatcher wired as `run` wires them, and
  `NetworksWorld`, the same with simulated Bluesky and Mastodon beside X, a publisher per account;
- `simx`: an X in memory, answering each post as the model test draws;
- `simnet`: X, Bluesky and Mastodon in memory, for the model test of deliveries;
- `model`: what the two model tests share (the template store, a posting run in steps, the common rules);
- `cli`: the `livetweet` command, run in this process or as a real process;
- `console`: a real `livetweet run` with its console, free ports, Chromium and Playwright;
- `waiting`: waiting for a condition (never for a fixed time);
- `corpus`: generated texts for the tweettext tests;
- `race_worker`: one operator in a separate process, for the concurrency tests.

No test module imports another test module: what two of them need lives here.
"""
