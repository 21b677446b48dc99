"""Which links of the OpenAPI document a schemathesis stateful run followed, and how they were answered.

Reads the run's NDJSON report (`--report ndjson`) and prints one line per link: how many times a
step followed it, and how many of those the target answered 2xx. Exits 1 when a link named with
--require ("POST /api/users -> GetUser") was never answered 2xx: the chains the document declares
must work end to end, not only be tried.

Usage: python3 tests/conformance_links.py REPORT.ndjson [--require "SOURCE -> LINK"]...
"""

import collections
import json
import sys


def main(argv: list[str]) -> int:
    report, required = argv[0], []
    rest = argv[1:]
    while rest:
        if rest[0] != "--require" or len(rest) < 2:
            print(__doc__, file=sys.stderr)
            return 2
        required.append(rest[1])
        rest = rest[2:]

    followed: collections.Counter[str] = collections.Counter()
    succeeded: collections.Counter[str] = collections.Counter()
    statuses: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    with open(report, encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line).get("ScenarioFinished")
            if not event:
                continue
            interactions = event["recorder"].get("interactions", {})
            # A skipped scenario (nothing could be drawn for it) records no cases.
            for case_id, case in event["recorder"].get("cases", {}).items():
                transition = case.get("transition")
                if not transition or not case.get("is_transition_applied"):
                    continue
                # "POST /api/users -> [201] GetUser -> GET /api/users/{user_id}" → "POST /api/users -> GetUser"
                source, _, rest_of_id = transition["id"].partition(" -> ")
                link = rest_of_id.split("] ", 1)[-1].split(" -> ", 1)[0]
                name = f"{source} -> {link}"
                followed[name] += 1
                response = (interactions.get(case_id) or {}).get("response") or {}
                status = response.get("status_code")
                if status is not None:
                    statuses[name][status] += 1
                    if 200 <= status < 300:
                        succeeded[name] += 1

    for name in sorted(followed):
        answers = ", ".join(f"{status}: {count}" for status, count in sorted(statuses[name].items()))
        print(f"  {name}: followed {followed[name]}, answered 2xx {succeeded[name]} ({answers})")
    missing = [name for name in required if succeeded[name] == 0]
    for name in missing:
        print(f"  never answered 2xx through the link: {name}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
