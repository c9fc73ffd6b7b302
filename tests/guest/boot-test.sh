# The Linux boot test's guest side (tests/tests/linux_boot.rs): show the
# processor the kernel found, hash a file written here, and let /init power
# the machine off.
cat /proc/cpuinfo
printf 'vtdemu boot test\n' > /tmp/boot-test
sha256sum /tmp/boot-test
