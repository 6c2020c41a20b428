#!/usr/bin/env bash
# Copied from ../shared/peers/netns for tests/netns.rs.
# A carrier network, a NAT router and a LAN, as three Linux network namespaces on this machine (root needed).
# Verified here: a datagram from the LAN reaches the carrier with its source rewritten to the router's outside
# address (iptables MASQUERADE), and the carrier's answer comes back through the NAT.
#
#   LAN  (ns ${P}lan) 192.168.77.2  --veth--  192.168.77.1 (ns ${P}nat) 198.18.0.1  --veth--  198.18.0.2 (ns ${P}car)
#
# Usage: nat_topology.sh up [PREFIX]     build it (PREFIX default "kc", keep it short: names are <= 15 chars)
#        nat_topology.sh down [PREFIX]   remove it
#        nat_topology.sh dnat PORTS [PREFIX]   also forward UDP/TCP PORTS (e.g. 5060 or 20000:20999) arriving at
#                                          198.18.0.1 to the LAN host (a static port forward, as on an office router)
# Run a program in a namespace with: ip netns exec ${P}lan <command>   (or ${P}nat / ${P}car)
# Only these namespaces' addresses and loopback may be targets of tests; remove the topology when done.
set -euo pipefail
cmd=${1:-}; P=${2:-kc}
case $cmd in
  up)
    command -v iptables >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables; }
    ip netns add ${P}lan; ip netns add ${P}nat; ip netns add ${P}car
    ip link add ${P}l0 type veth peer name ${P}l1; ip link set ${P}l0 netns ${P}lan; ip link set ${P}l1 netns ${P}nat
    ip link add ${P}w0 type veth peer name ${P}w1; ip link set ${P}w0 netns ${P}nat; ip link set ${P}w1 netns ${P}car
    ip -n ${P}lan addr add 192.168.77.2/24 dev ${P}l0; ip -n ${P}lan link set ${P}l0 up; ip -n ${P}lan link set lo up
    ip -n ${P}nat addr add 192.168.77.1/24 dev ${P}l1; ip -n ${P}nat link set ${P}l1 up
    ip -n ${P}nat addr add 198.18.0.1/24 dev ${P}w0; ip -n ${P}nat link set ${P}w0 up; ip -n ${P}nat link set lo up
    ip -n ${P}car addr add 198.18.0.2/24 dev ${P}w1; ip -n ${P}car link set ${P}w1 up; ip -n ${P}car link set lo up
    ip -n ${P}lan route add default via 192.168.77.1
    ip netns exec ${P}nat sysctl -qw net.ipv4.ip_forward=1
    ip netns exec ${P}nat iptables -t nat -A POSTROUTING -o ${P}w0 -j MASQUERADE
    echo "up: LAN 192.168.77.2 (ns ${P}lan), NAT outside 198.18.0.1 (ns ${P}nat), carrier 198.18.0.2 (ns ${P}car)" ;;
  dnat)
    ports=${2:?ports}; P=${3:-kc}
    for proto in udp tcp; do
      ip netns exec ${P}nat iptables -t nat -A PREROUTING -i ${P}w0 -p $proto --dport "$ports" -j DNAT --to-destination 192.168.77.2
    done
    echo "forwarding $ports (udp, tcp) from 198.18.0.1 to 192.168.77.2" ;;
  down)
    for n in lan nat car; do ip netns del ${P}$n 2>/dev/null || true; done
    echo "down" ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
