"""A later, separate process in another language: the weekly publishing job.

It learns which selected titles were actually published and how they performed, and reports that to
intersebd with the Python SDK. Each publication is linked to the selection it came from, and the click-through
rate is an annotation on the publication: intersebd resolves it back, through three links, to the LLM call.

Usage: INTERSEBD_URL=http://127.0.0.1:8787 python3 publish.py <selectionId>=<ctr> [...]
"""

import sys

import intersebd  # the module in packages/python; `pip install ./packages/python` in your own project

for arg in sys.argv[1:]:
    selection_id, ctr = arg.split("=")
    publication_id = "pub_" + selection_id[len("sel_"):]
    intersebd.link(upstream_tag=selection_id, downstream_tag=publication_id, metadata={"channel": "newsletter"})
    intersebd.annotate(annotation_key=publication_id, name="ctr", numeric_reward=float(ctr), source="code")

intersebd.flush()
print(f"published {len(sys.argv) - 1} titles")
