# Sourced by scripts/test and scripts/demo: `need PACKAGE CHECK...` notes a Debian package
# whose check fails; `install_missing` installs the noted ones with apt-get (with sudo
# unless run as root).
missing=()
need() {
  local package=$1
  shift
  "$@" >/dev/null 2>&1 || missing+=("$package")
}
installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
install_missing() {
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  echo "== apt-get install ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}
