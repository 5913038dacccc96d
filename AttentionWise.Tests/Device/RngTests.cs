using AttentionWise.Layers;

namespace AttentionWise.Tests.Device;

public class RngTests
{
    [Fact]
    public void TheSameSeedGivesTheSameSequenceAndStateRestoresIt()
    {
        var a = new Rng(42);
        var b = new Rng(42);
        var first = Enumerable.Range(0, 5).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(first, Enumerable.Range(0, 5).Select(_ => b.NextUInt64()));
        var saved = a.State;
        double next = a.NextNormal();
        a.State = saved;
        Assert.Equal(next, a.NextNormal());
        Assert.NotEqual(first, Enumerable.Range(0, 5).Select(_ => new Rng(43).NextUInt64()));
    }

    [Fact]
    public void NormalsHaveUnitVarianceAndIntsAreInRange()
    {
        var rng = new Rng(7);
        var x = Enumerable.Range(0, 200_000).Select(_ => rng.NextNormal()).ToArray();
        double mean = x.Average();
        double variance = x.Select(v => (v - mean) * (v - mean)).Average();
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(variance, 0.98, 1.02);
        var counts = new int[7];
        for (int i = 0; i < 70_000; i++)
            counts[rng.NextInt(7)]++;
        Assert.All(counts, c => Assert.InRange(c, 9_500, 10_500));
    }

    [Fact]
    public void ShuffleIsAPermutation()
    {
        var items = Enumerable.Range(0, 1000).ToArray();
        new Rng(3).Shuffle(items);
        Assert.NotEqual(Enumerable.Range(0, 1000), items);
        Assert.Equal(Enumerable.Range(0, 1000), items.OrderBy(v => v));
    }
}
