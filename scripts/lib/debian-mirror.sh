# Sourced by the scripts that fetch Debian packages (scripts/opencl, scripts/ptxas): debian_archive prints the first
# Debian archive of this machine's apt sources (deb822 .sources files, then one-line sources.list files), security and
# backports archives excluded, or nothing when there is none.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    # One record per paragraph; print "URI SUITES" for records of type deb.
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          l = $i; if (l ~ /^[ \t]*#/) continue
          if (l ~ /^Types:/) { sub(/^Types:[ \t]*/, "", l); types = l }
          else if (l ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", l); uris = l }
          else if (l ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", l); suites = l }
          else if (l ~ /^Enabled:/) { sub(/^Enabled:[ \t]*/, "", l); enabled = tolower(l) }
        }
        if (types ~ /(^| )deb( |$)/ && uris != "" && enabled != "no") { split(uris, u, /[ \t]+/); print u[1], suites }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    sed -n 's/^[ \t]*deb[ \t]\+\(\[[^]]*\][ \t]\+\)\{0,1\}\([^ \t]\+\)[ \t]\+\([^ \t]\+\).*/\2 \3/p' "$f"
  done
}

debian_archive() {
  local uri suites
  while read -r uri suites; do
    [[ $uri == *security* || $suites == *-security* || $suites == *backports* ]] && continue
    # A Debian archive serves the Debian codenames (or stable/testing/unstable); an Ubuntu one does not.
    if grep -Eqw 'buster|bullseye|bookworm|trixie|forky|sid|stable|testing|unstable' <<<"$suites"; then
      printf '%s\n' "${uri%/}"
      return 0
    fi
  done < <(debian_mirror)
}
