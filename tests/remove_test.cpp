// Bus::remove refuses to strand attached receivers (issue 12, item 4): real
// child processes hold receivers' leases; removal names them and their pids,
// succeeds once they are gone (exited or killed), and force removes anyway.
#include <signal.h>
#include <sys/stat.h>

#include <string>

#include "support.hpp"

namespace courier {
namespace {

using test::BusName;
using test::Child;
using test::read_stdin_line;
using test::small_options;
using test::tell_parent;

bool shm_exists(const std::string& bus) {
  struct stat st {};
  return ::stat(("/dev/shm/courier." + bus).c_str(), &st) == 0;
}

// args: bus, endpoint. Attaches a receiver, says "attached", holds the lease
// until its stdin ends, then detaches and says "detached".
COURIER_CHILD(hold_receiver) {
  Options o = small_options();
  o.create = false;
  auto bus = Bus::open(args[0], o);
  if (!bus) return 3;
  auto r = bus->attach(args[1]);
  if (!r) return 4;
  tell_parent("attached");
  (void)read_stdin_line();
  { Receiver gone = std::move(*r); }  // give the lease back
  tell_parent("detached");
  return 0;
}

Bus make_bus(const std::string& name) {
  auto b = Bus::open(name, small_options());
  if (!b) throw std::runtime_error(b.error().message);
  return std::move(*b);
}

TEST(Remove, isRefusedWhileAChildHoldsAReceiverAndNamesItsEndpointAndPid) {
  BusName name;
  {
    Bus bus = make_bus(name.name);
    ASSERT_TRUE(bus.add_endpoint("bob"));
    ASSERT_TRUE(bus.add_endpoint("carol"));
    ASSERT_TRUE(bus.add_endpoint("idle"));  // registered, no receiver: not named
  }
  Child bob = Child::spawn("hold_receiver", {name.name, "bob"});
  bob.expect_line("attached");
  Child carol = Child::spawn("hold_receiver", {name.name, "carol"});
  carol.expect_line("attached");

  auto refused = Bus::remove(name);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::busy);
  EXPECT_EQ(refused.error().message, "bus '" + name.name + "' has receivers attached: bob (pid " +
                                         std::to_string(bob.pid()) + "), carol (pid " + std::to_string(carol.pid()) +
                                         "); detach them, or remove with force");
  EXPECT_TRUE(Bus::exists(name));
  EXPECT_TRUE(shm_exists(name.name));

  // bob detaches and exits: carol alone is named.
  ASSERT_TRUE(bob.send_line("go"));
  bob.expect_line("detached");
  EXPECT_EQ(bob.wait(), 0);
  refused = Bus::remove(name);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "bus '" + name.name + "' has receivers attached: carol (pid " +
                                         std::to_string(carol.pid()) + "); detach them, or remove with force");
  EXPECT_TRUE(Bus::exists(name));

  // carol is killed holding her lease: a dead holder is not attached.
  carol.kill9();
  EXPECT_EQ(carol.wait(), 128 + SIGKILL);
  ASSERT_TRUE(Bus::remove(name)) << "a dead lease holder keeps no bus";
  EXPECT_FALSE(Bus::exists(name));
  EXPECT_FALSE(shm_exists(name.name));
}

TEST(Remove, withForceRemovesWhileAReceiverIsAttached) {
  BusName name;
  { (void)make_bus(name.name).add_endpoint("bob"); }
  Child bob = Child::spawn("hold_receiver", {name.name, "bob"});
  bob.expect_line("attached");
  ASSERT_FALSE(Bus::remove(name, RemoveOptions{}));  // not forced: refused
  EXPECT_TRUE(Bus::exists(name));
  ASSERT_TRUE(Bus::remove(name, RemoveOptions{.force = true}));
  EXPECT_FALSE(Bus::exists(name));
  EXPECT_FALSE(shm_exists(name.name));
  // The child keeps the memory it mapped and detaches normally.
  ASSERT_TRUE(bob.send_line("go"));
  bob.expect_line("detached");
  EXPECT_EQ(bob.wait(), 0);
}

TEST(Remove, countsAReceiverOfThisProcessToo) {
  BusName name;
  Bus bus = make_bus(name.name);
  {
    auto bob = bus.attach("bob");
    ASSERT_TRUE(bob);
    auto refused = Bus::remove(name);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::busy);
    EXPECT_NE(refused.error().message.find("bob (pid " + std::to_string(::getpid()) + ")"), std::string::npos)
        << refused.error().message;
  }
  EXPECT_TRUE(Bus::remove(name));  // detached: removed
  EXPECT_FALSE(shm_exists(name.name));
}

TEST(Remove, aMissingBusIsNotFoundWithOrWithoutForce) {
  BusName name;
  for (bool force : {false, true}) {
    auto r = Bus::remove(name, RemoveOptions{.force = force});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::not_found);
    EXPECT_EQ(r.error().message, "no bus named '" + name.name + "'");
  }
  EXPECT_FALSE(shm_exists(name.name));
}

TEST(Remove, theCheckOpensWithoutCreating) {
  BusName name;
  { (void)make_bus(name.name); }
  ASSERT_TRUE(Bus::remove(name));
  EXPECT_FALSE(shm_exists(name.name));
  EXPECT_FALSE(Bus::remove(name));  // the check did not create it again
  EXPECT_FALSE(shm_exists(name.name));
}

}  // namespace
}  // namespace courier

COURIER_TEST_MAIN
