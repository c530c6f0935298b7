#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Foley Studio needs at run time and in its tests.
# Runs apt-get when root or with password-less sudo; otherwise names what is missing.
set -euo pipefail

PACKAGES=(
  libportaudio2      # sounddevice (audio output)
  libpulse0          # Qt Multimedia / PulseAudio client
  pulseaudio         # null sink for audio-output tests
  libasound2-plugins # ALSA -> PulseAudio bridge
  libgl1 libegl1 libopengl0 libxkbcommon0 libfontconfig1 libdbus-1-3  # Qt, even offscreen
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 # Qt xcb
  xvfb               # real-window checks and screenshots without a display
  desktop-file-utils # desktop-file-validate: checks packaging/foley-studio.desktop in the tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "Foley Studio needs these system packages; install them as root:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "apt-get update failed; trying the install with the current lists" >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
