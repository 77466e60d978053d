"""Prints German public holidays from the Python package `holidays` as JSON: the independent
reference that tests/reference.rs compares leitstand-calendar's holidays with.

    reference.py FIRST_YEAR LAST_YEAR LIST...

Each LIST is a subdivision of Germany as the package names it (`BW`, `BY`, ..., `Augsburg`),
optionally followed by `:` and the categories to ask for (`BY:public,catholic`); without
them, the package's default categories apply. The output:

    {"version": "0.109",
     "lists": {"BY": {"categories": ["public"],
                      "years": {"2026": [["2026-01-01", "Neujahr"], ...], ...}}, ...}}

Exit status 3 means the package is not installed.
"""

import json
import sys

try:
    import holidays
except ImportError:
    sys.stderr.write("reference.py: the Python package `holidays` is not installed\n")
    sys.exit(3)


def main(argv):
    first, last = int(argv[1]), int(argv[2])
    years = range(first, last + 1)
    lists = {}
    for spec in argv[3:]:
        subdiv, _, categories = spec.partition(":")
        options = {"subdiv": subdiv, "years": years, "language": "de"}
        if categories:
            options["categories"] = tuple(categories.split(","))
        found = holidays.country_holidays("DE", **options)
        by_year = {str(year): [] for year in years}
        for day in sorted(found):
            # Two holidays on one date are one entry in the package; list each.
            for name in found.get_list(day):
                by_year[str(day.year)].append([day.isoformat(), name])
        lists[spec] = {"categories": sorted(found.categories), "years": by_year}
    json.dump({"version": holidays.__version__, "lists": lists}, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
