#!/bin/sh
# System libraries the documents and browser tests need (WeasyPrint's Pango, poppler's
# pdftoppm, Debian's chromium). Installs Debian's packages when run as root; otherwise
# names what is missing and exits 1.
missing=""
ldconfig -p 2>/dev/null | grep -q libpango-1.0 || missing="$missing libpango-1.0-0 libpangoft2-1.0-0"
# HarfBuzz's subsetter: WeasyPrint subsets the PDF's fonts with it instead of fontTools'
# pure-Python subsetter (seconds per PDF).
ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || missing="$missing libharfbuzz-subset0"
command -v pdftoppm >/dev/null 2>&1 || missing="$missing poppler-utils"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
# The deployment tests check prometheus rules with promtool and nginx.conf with nginx -t.
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
# amtool (Debian's prometheus-alertmanager, ~10 MB) checks deploy/alertmanager's config.
command -v amtool >/dev/null 2>&1 || missing="$missing prometheus-alertmanager"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
# LibreOffice Writer without GUI (~150 MB): the DOCX is converted headless to check what a
# reader sees (filled table of contents, landscape tables); the test skips without it.
command -v soffice >/dev/null 2>&1 || missing="$missing libreoffice-writer-nogui"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages:$missing"
  # Packages that bring a daemon (prometheus, alertmanager, nginx) must not start it here.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  rc=$?
  [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] && exit 0
fi
echo "missing system packages:$missing (Debian/Ubuntu: sudo apt-get install$missing)" >&2
exit 1
