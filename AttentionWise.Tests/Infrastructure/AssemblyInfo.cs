// Test classes run in parallel, one collection per class, except those that share the test devices: every per-device
// suite (DeviceTest) and the few classes that take a device from TestDevices are in the one "shared devices"
// collection, whose classes run one at a time (a device's launcher, its scratch workspace and its kernel caches are
// shared by everything that runs on it). xunit.runner.json says the same for `dotnet test`.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerClass, DisableTestParallelization = false)]

namespace AttentionWise.Tests.Infrastructure;

/// <summary>The classes that run on the shared test devices (<see cref="TestDevices"/>), one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class SharedDevices
{
    public const string Name = "shared devices";
}
