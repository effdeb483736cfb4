"""Resource types written as Concourse writes them: bash + jq, JSON on stdin/stdout.

`file`: the versions of a resource are the lines of `source.file`; `in` writes the
version to `<dest>/version`; `out` appends the content of `<src>/<params.from>`.
"""

CHECK = r"""#!/bin/bash
set -euo pipefail
payload=$(cat)
file=$(jq -r .source.file <<<"$payload")
cur=$(jq -c '.version // null' <<<"$payload")
[ -f "$file" ] || { echo "no such file: $file" >&2; exit 1; }
jq -R -s -c --argjson cur "$cur" '
  split("\n") | map(select(length > 0)) | map({v: .}) as $all
  | if $cur == null then $all[-1:]
    else ($all | map(.v) | index($cur.v)) as $i
         | if $i == null then $all[-1:] else $all[$i:] end
    end' "$file"
"""

IN = r"""#!/bin/bash
set -euo pipefail
dest=$1
payload=$(cat)
v=$(jq -r .version.v <<<"$payload")
echo "$v" > "$dest/version"
echo "fetched $v for build $BUILD_ID" >&2
jq -n -c --arg v "$v" '{version: {v: $v}, metadata: [{name: "fetched", value: $v}]}'
"""

OUT = r"""#!/bin/bash
set -euo pipefail
src=$1
payload=$(cat)
file=$(jq -r .source.file <<<"$payload")
from=$(jq -r .params.from <<<"$payload")
v=$(cat "$src/$from")
echo "$v" >> "$file"
echo "pushed $v" >&2
jq -n -c --arg v "$v" '{version: {v: $v}, metadata: [{name: "pushed", value: $v}]}'
"""

FILE_TYPE = {"check": CHECK, "in": IN, "out": OUT}
