using AttentionWise.Training.Visualization;

namespace AttentionWise.Tests.Visualization;

public class CanvasTests
{
    [Fact]
    public void PngRoundTripsEveryPixel()
    {
        var rgb = new byte[7 * 5 * 3];
        var rng = new Random(5);
        rng.NextBytes(rgb);
        var (w, h, back) = PngReader.Decode(Png.Encode(7, 5, rgb));
        Assert.Equal((7, 5), (w, h));
        Assert.Equal(rgb, back);
    }

    [Fact]
    public void PngRejectsAWrongBufferSize()
    {
        var e = Assert.Throws<ArgumentException>(() => Png.Encode(4, 4, new byte[10]));
        Assert.Contains("48", e.Message);
    }

    [Fact]
    public void HeatmapsUseTheWholeColourRangeAndMarkNaN()
    {
        var canvas = new Canvas(40, 10);
        float[] values = { -1f, 0f, 1f, float.NaN };
        canvas.Heatmap(0, 0, values, 1, 4, 10, ColormapKind.Diverging, -1f, 1f);
        Assert.Equal(((byte)0, (byte)0, (byte)255), canvas[5, 5]);     // -1: blue
        Assert.Equal(((byte)255, (byte)255, (byte)255), canvas[15, 5]); // 0: white
        Assert.Equal(((byte)255, (byte)0, (byte)0), canvas[25, 5]);     // +1: red
        Assert.Equal(((byte)255, (byte)0, (byte)255), canvas[35, 5]);   // NaN: magenta
        var gray = new Canvas(20, 10);
        gray.Heatmap(0, 0, new[] { 2f, 4f }, 1, 2, 10, ColormapKind.Gray, 2f, 4f);
        Assert.Equal(((byte)0, (byte)0, (byte)0), gray[1, 1]);
        Assert.Equal(((byte)255, (byte)255, (byte)255), gray[11, 1]);
    }

    [Fact]
    public void TextIsDrawnAndMeasured()
    {
        var canvas = new Canvas(60, 12);
        canvas.Text(1, 1, "Wx 0.5", scale: 1);
        var (_, _, rgb) = PngReader.Decode(canvas.ToPng());
        Assert.Equal(2, PngReader.DistinctColours(rgb));
        Assert.Equal(6 * 6 - 1, BitmapFont.Measure("Wx 0.5"));
        Assert.NotEqual(BitmapFont.Glyph('W'), BitmapFont.Glyph('X'));
        Assert.Equal(BitmapFont.Glyph('x'), BitmapFont.Glyph('X'));
    }

    [Fact]
    public void ViridisRunsFromDarkToBright()
    {
        var lo = Colormap.Map(ColormapKind.Viridis, 0);
        var hi = Colormap.Map(ColormapKind.Viridis, 1);
        Assert.True(lo.R + lo.G + lo.B < 200);
        Assert.True(hi.R + hi.G + hi.B > 450);
    }

    [Fact]
    public void SaveWritesADecodableFile()
    {
        string dir = Path.Combine(Path.GetTempPath(), "aw-canvas-" + Guid.NewGuid().ToString("N"));
        try
        {
            var canvas = new Canvas(30, 20);
            canvas.ColorBar(2, 2, 6, 16, ColormapKind.Viridis, 0f, 1f);
            string path = Path.Combine(dir, "sub", "bar.png");
            canvas.Save(path);
            var (w, h, rgb) = PngReader.Decode(File.ReadAllBytes(path));
            Assert.Equal((30, 20), (w, h));
            Assert.True(PngReader.DistinctColours(rgb) > 10);
            Assert.False(File.Exists(path + ".tmp"));
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }
}
