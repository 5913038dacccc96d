namespace AttentionWise.Tests.Device;

/// <summary>Both launch layouts cover every element exactly once.</summary>
[Collection(AttentionWise.Tests.Infrastructure.SharedDevices.Name)]
public class LaunchLayoutTests
{
    [Theory]
    [InlineData(1, 16)]
    [InlineData(7, 16)]
    [InlineData(16, 16)]
    [InlineData(17, 16)]
    [InlineData(1000, 16)]
    [InlineData(1001, 3)]
    [InlineData(5, 1)]
    public void EveryElementIsCoveredOnce(int length, int maxThreads)
    {
        foreach (var layout in new[] { LaunchLayout.Contiguous(length, maxThreads), LaunchLayout.GridStride(length, maxThreads) })
        {
            var seen = new int[length];
            for (int t = 0; t < layout.Threads; t++)
            {
                for (int k = 0; k < layout.PerThread; k++)
                {
                    int e = layout.Element(t, k);
                    if (e >= layout.Length)
                        break;
                    seen[e]++;
                }
            }
            Assert.True(seen.All(c => c == 1), $"{layout}: counts {string.Join(",", seen.Take(20))}");
            Assert.True(layout.Threads <= maxThreads);
        }
    }

    [Fact]
    public void CpuDevicesUseContiguousRuns()
    {
        var layout = Infrastructure.TestDevices.Cpu.Layout(10_000);
        Assert.Equal(1, layout.ItemStep);
        Assert.Equal(layout.PerThread, layout.ThreadStep);
    }
}
