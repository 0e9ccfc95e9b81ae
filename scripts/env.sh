# Source me (bash): the project's environment: .venv, the ROS 2 prefix, the colcon install,
# and the Fast DDS profile. Used by scripts/setup, scripts/test and scripts/demo.
#   source scripts/env.sh               (everything)
#   source scripts/env.sh --no-install  (before the first colcon build)
# The activate and colcon scripts read unset variables: relax `set -u` while sourcing them.
case $- in *u*) _nlspn_nounset=1; set +u ;; *) _nlspn_nounset=0 ;; esac
_nlspn_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
source "$_nlspn_root/.venv/bin/activate"
if [[ "${ROS_DISTRO:-}" != "jazzy" ]]; then
  # ROS 2 from the PyPI wheels: the install tree is the virtual environment itself.
  export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi
if [[ "${1:-}" != "--no-install" ]]; then
  if [[ ! -f "$_nlspn_root/install/local_setup.bash" ]]; then
    echo "nlspn_ros: install/ missing: run scripts/setup first" >&2
    [[ $_nlspn_nounset == 1 ]] && set -u
    return 1
  fi
  # shellcheck disable=SC1091
  source "$_nlspn_root/install/local_setup.bash"
fi
export FASTRTPS_DEFAULT_PROFILES_FILE="${FASTRTPS_DEFAULT_PROFILES_FILE:-$_nlspn_root/config/fastdds_shm.xml}"
[[ $_nlspn_nounset == 1 ]] && set -u
unset _nlspn_root _nlspn_nounset
