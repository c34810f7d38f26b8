// Runs the official twitter-text over texts for livetweet's differential test and bench.
//
//   node harness.js parse          stdin: one JSON string a line; stdout: one JSON object a line
//   node harness.js bench [rounds] stdin: the same; stdout: {"rate": texts/s in the best round,
//                                  "median": texts/s, "texts": n}
//   node harness.js data           stdout: twitter-text's own date-bound data (TLDs, hashtag
//                                  letters, the emoji that take a VS16)
//
// parse writes {"p": [weightedLength, valid, permillage, validRangeStart, validRangeEnd,
// displayRangeStart, displayRangeEnd], "u": urls, "h": hashtags, "m": mentions} where each
// entity is [value, start, end]. parseTweet's ranges stay in UTF-16 code units, as it reports
// them; entity indices are turned from UTF-16 code units into code points (a lone surrogate
// counts one), the indices of a Python str. A text that makes twitter-text throw gives
// {"error": message}.
'use strict';

const readline = require('readline');
const twttr = require('twitter-text');
// twitter-text's own emoji parser, at the version its package pins.
const twemoji = require('twemoji-parser');

function codePointIndex(text) {
  // index[i] = the code point index of UTF-16 index i (and of text.length).
  const index = new Array(text.length + 1);
  let cp = 0;
  for (let i = 0; i < text.length; i++) {
    index[i] = cp;
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        index[i + 1] = cp;
        i++;
      }
    }
    cp++;
  }
  index[text.length] = cp;
  return index;
}

function parse(text) {
  const r = twttr.parseTweet(text);
  const index = codePointIndex(text);
  const at = (e, value) => [value, index[e.indices[0]], index[e.indices[1]]];
  return {
    p: [r.weightedLength, r.valid, r.permillage, r.validRangeStart, r.validRangeEnd,
      r.displayRangeStart, r.displayRangeEnd],
    u: twttr.extractUrlsWithIndices(text).map((e) => at(e, e.url)),
    h: twttr.extractHashtagsWithIndices(text).map((e) => at(e, e.hashtag)),
    m: twttr.extractMentionsWithIndices(text).map((e) => at(e, e.screenName)),
  };
}

function alternation(regex) {
  // validGTLD and validCCTLD are "(?:(?:a|b|...)(?=...))": their words.
  const m = /^\(\?:\(\?:(.*)\)\(\?=/.exec(regex.source);
  return m[1].split('|');
}

function ranges(regex) {
  // The code points a one-code-point regex accepts, as [first, last] runs.
  const out = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (regex.test(String.fromCodePoint(cp))) {
      const last = out[out.length - 1];
      if (last && last[1] === cp - 1) last[1] = cp;
      else out.push([cp, cp]);
    }
  }
  return out;
}

function textForms() {
  // The emoji that take a VS16: twemoji reads the emoji and its VS16 as one.
  const out = [];
  for (const [first, last] of [[0x80, 0xffff], [0x1f000, 0x1faff]]) {
    for (let cp = first; cp <= last; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const text = String.fromCodePoint(cp) + '\ufe0f';
      const found = twemoji.parse(text);
      if (found.length === 1 && found[0].indices[0] === 0 && found[0].indices[1] === text.length) {
        out.push(String.fromCodePoint(cp));
      }
    }
  }
  return out;
}

function data() {
  const re = twttr.regexen;
  return {
    emoji_text_forms: textForms(),
    gtlds: alternation(re.validGTLD),
    cctlds: alternation(re.validCCTLD),
    // Letters and marks a hashtag needs one of, and what else it may hold, with the
    // case-insensitive flag that validHashtag carries.
    hashtag_alpha: ranges(new RegExp('^(?:' + re.hashtagAlpha.source + ')$', 'i')),
    hashtag_alphanumeric: ranges(new RegExp('^(?:' + re.hashtagAlphaNumeric.source + ')$', 'i')),
  };
}

function readTexts(done) {
  const texts = [];
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line) texts.push(JSON.parse(line));
  });
  lines.on('close', () => done(texts));
}

function main() {
  const mode = process.argv[2] || 'parse';
  if (mode === 'data') {
    process.stdout.write(JSON.stringify(data()) + '\n');
  } else if (mode === 'bench') {
    readTexts((texts) => {
      const rounds = Number(process.argv[3] || 5);
      const rates = [];
      for (const text of texts) twttr.parseTweet(text); // warm up the JIT
      for (let r = 0; r < rounds; r++) {
        const start = process.hrtime.bigint();
        for (const text of texts) twttr.parseTweet(text);
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        rates.push(texts.length / seconds);
      }
      rates.sort((a, b) => a - b);
      // The best round is the one least disturbed by anything else on the machine.
      const best = rates[rates.length - 1];
      const median = rates[Math.floor(rates.length / 2)];
      process.stdout.write(JSON.stringify({ rate: best, median, texts: texts.length }) + '\n');
    });
  } else if (mode === 'parse') {
    readTexts((texts) => {
      const out = [];
      for (const text of texts) {
        try {
          out.push(JSON.stringify(parse(text)));
        } catch (e) {
          out.push(JSON.stringify({ error: String(e && e.message) }));
          // twitter-text's patterns are shared and global: a throw leaves one mid-text.
          twttr.regexen.extractUrl.lastIndex = 0;
        }
      }
      process.stdout.write(out.join('\n') + '\n');
    });
  } else {
    process.stderr.write('usage: node harness.js parse|bench|data\n');
    process.exit(2);
  }
}

main();
