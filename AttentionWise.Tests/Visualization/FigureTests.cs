using System.Xml.Linq;
using AttentionWise.Tests.Data;
using AttentionWise.Tool.Visualization;
using SkiaSharp;

namespace AttentionWise.Tests.Visualization;

/// <summary>The ScottPlot figures: layout, colour maps, colour bars, formats (decoded with SkiaSharp).</summary>
public class FigureTests
{
    private const int Cell = 10;

    /// <summary>The pixel colour at the centre of each value of the figure's first panel, a heat map of rows×cols.</summary>
    private static List<SKColor> CellColours((Figure Figure, Panel Panel) f, int rows, int cols)
    {
        using var bitmap = Pictures.Decode(f.Figure.ToPng());
        Assert.Equal((f.Figure.Width, f.Figure.Height), (bitmap.Width, bitmap.Height));
        var (px, py, _, _) = f.Figure.PanelBox(0);
        var data = f.Panel.DataArea!.Value;
        var colours = new List<SKColor>();
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
                colours.Add(bitmap.GetPixel(px + data.X + j * Cell + Cell / 2, py + data.Y + i * Cell + Cell / 2));
        }
        return colours;
    }

    private static (Figure, Panel) One(Panel panel) => (new Figure("A test figure", ["One panel."], [panel], 1), panel);

    [Fact]
    public void AViridisRampGetsBrighterAlongTheRamp()
    {
        var ramp = Enumerable.Range(0, 16).Select(i => (float)i * 0.25f).ToArray();
        var panel = Charts.Heat("Ramp", ramp, 1, 16, ColourMap.Viridis, Cell);
        Assert.Equal((16 * Cell, Cell), (panel.DataArea!.Value.Width, panel.DataArea.Value.Height));
        var colours = CellColours(One(panel), 1, 16);
        for (int j = 1; j < 16; j++)
            Assert.True(Pictures.Luminance(colours[j]) > Pictures.Luminance(colours[j - 1]), $"cell {j} ({colours[j]}) is not brighter than cell {j - 1} ({colours[j - 1]})");
        // Viridis runs from dark purple to yellow.
        Assert.True(colours[0].Blue > colours[0].Green && Pictures.Luminance(colours[0]) < 80, colours[0].ToString());
        Assert.True(colours[15].Red > 200 && colours[15].Green > 200 && colours[15].Blue < 100, colours[15].ToString());
    }

    [Fact]
    public void ADivergingRampIsBlueBelowZeroWhiteAtZeroAndRedAbove()
    {
        // -6 … 6 in steps of 1: zero is the middle cell.
        var ramp = Enumerable.Range(-6, 13).Select(i => (float)i).ToArray();
        var colours = CellColours(One(Charts.Heat("Signed ramp", ramp, 1, 13, ColourMap.Diverging, Cell)), 1, 13);
        for (int j = 0; j < 6; j++)
            Assert.True(colours[j].Blue > colours[j].Red + 20, $"value {ramp[j]}: {colours[j]} is not blue");
        for (int j = 7; j < 13; j++)
            Assert.True(colours[j].Red > colours[j].Blue + 20, $"value {ramp[j]}: {colours[j]} is not red");
        var zero = colours[6];
        Assert.True(zero.Red > 220 && zero.Green > 220 && zero.Blue > 220, $"zero is {zero}, not near white");
        // Lighter towards zero from both sides.
        for (int j = 1; j <= 6; j++)
            Assert.True(Pictures.Luminance(colours[j]) > Pictures.Luminance(colours[j - 1]), $"cell {j} is not lighter than cell {j - 1}");
        for (int j = 7; j < 13; j++)
            Assert.True(Pictures.Luminance(colours[j]) < Pictures.Luminance(colours[j - 1]), $"cell {j} is not darker than cell {j - 1}");
    }

    [Fact]
    public void TheDivergingMapIsCentredOnZeroEvenForLopsidedData()
    {
        // Values from -1 to 4: zero must still be white, and -1 only a light blue (a quarter of the way).
        var values = new float[] { -1, 0, 4 };
        var colours = CellColours(One(Charts.Heat("Lopsided", values, 1, 3, ColourMap.Diverging, Cell)), 1, 3);
        Assert.True(colours[1].Red > 220 && colours[1].Green > 220 && colours[1].Blue > 220, $"zero is {colours[1]}");
        Assert.True(Pictures.Luminance(colours[0]) > Pictures.Luminance(colours[2]) + 40, $"-1 ({colours[0]}) should be much lighter than 4 ({colours[2]})");
        Assert.Equal((-4.0, 4.0), Charts.ColourRange(values, ColourMap.Diverging));
        Assert.Equal((-1.0, 4.0), Charts.ColourRange(values, ColourMap.Viridis));
        Assert.Equal((1.5, 4.5), Charts.ColourRange([3f, 3f, float.NaN], ColourMap.Viridis));
    }

    [Fact]
    public void HeatMapsRowZeroIsAtTheTopAndNonFiniteValuesAreMarked()
    {
        // 2×2: top row 0, 1; bottom row 2, NaN.
        var values = new float[] { 0, 1, 2, float.NaN };
        var errors = CellColours(One(Charts.Heat("Errors", values, 2, 2, ColourMap.Viridis, Cell)), 2, 2);
        Assert.True(Pictures.Luminance(errors[0]) < Pictures.Luminance(errors[1]) && Pictures.Luminance(errors[1]) < Pictures.Luminance(errors[2]));
        Assert.Equal(SKColors.Magenta, errors[3]);
        var gaps = CellColours(One(Charts.Heat("Gaps", values, 2, 2, ColourMap.Viridis, Cell, gapsAreNaN: true)), 2, 2);
        Assert.Equal(new SKColor(Charts.GapColour.R, Charts.GapColour.G, Charts.GapColour.B), gaps[3]);
    }

    [Fact]
    public void ColourImagesShowTheirChannels()
    {
        // Pixel 0 red, pixel 1 green, pixel 2 blue, pixel 3 white.
        var panel = Charts.Colour("RGB", [1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1], 1, 4, Cell);
        var colours = CellColours(One(panel), 1, 4);
        Assert.Equal(new SKColor(255, 0, 0), colours[0]);
        Assert.Equal(new SKColor(0, 255, 0), colours[1]);
        Assert.Equal(new SKColor(0, 0, 255), colours[2]);
        Assert.Equal(new SKColor(255, 255, 255), colours[3]);
    }

    [Fact]
    public void PanelsAreLaidOutOnAGridUnderTheTitle()
    {
        var a = Charts.Heat("A", new float[16], 4, 4, ColourMap.Viridis, Cell);
        var b = Charts.Heat("B with a much longer title than its image", new float[16], 4, 4, ColourMap.Viridis, Cell);
        var c = Charts.Note("C", "Nothing here", 4, 4, Cell);
        var figure = new Figure("Grid", ["Three panels, two columns, one empty slot."], [a, b, null, c], 2);
        // The long title widens its panel rather than being cut.
        Assert.True(b.Width > a.Width);
        var boxA = figure.PanelBox(0);
        var boxB = figure.PanelBox(1);
        var boxC = figure.PanelBox(3);
        Assert.True(boxB.X >= boxA.X + a.Width, "B overlaps A");
        Assert.Equal(boxB.X, boxC.X);
        Assert.True(boxC.Y >= boxA.Y + a.Height, "the second row overlaps the first");
        Assert.True(boxA.Y > 30, "the panels overlap the title");
        Assert.True(figure.Width >= boxB.X + b.Width && figure.Height >= boxC.Y + c.Height);
        Assert.Throws<ArgumentException>(() => figure.PanelBox(2));
        using var bitmap = Pictures.Decode(figure.ToPng());
        Assert.Equal((figure.Width, figure.Height), (bitmap.Width, bitmap.Height));
        // The title is dark text on white: some pixels of the header rows are dark.
        int dark = 0;
        for (int y = 0; y < boxA.Y; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
                dark += Pictures.Luminance(bitmap.GetPixel(x, y)) < 100 ? 1 : 0;
        }
        Assert.True(dark > 50, $"only {dark} dark pixels above the panels: no title drawn");
        Assert.Throws<ArgumentException>(() => new Figure("Empty", [], [null], 1));
    }

    [Fact]
    public void FiguresAreWrittenAsPngOrSvgWithoutLeavingTemporaryFiles()
    {
        using var dir = new TempDir();
        var (figure, _) = One(Charts.Heat("Ramp", Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), 3, 4, ColourMap.Viridis, Cell));
        string png = dir.File("sub/figure.png"), svg = dir.File("sub/figure.svg");
        figure.Save(png, FigureFormat.Png);
        figure.Save(svg, FigureFormat.Svg);
        using (var bitmap = Pictures.Decode(png))
            Assert.Equal((figure.Width, figure.Height), (bitmap.Width, bitmap.Height));
        var root = XDocument.Load(svg).Root!;
        Assert.Equal("svg", root.Name.LocalName);
        Assert.Equal(figure.Width.ToString(System.Globalization.CultureInfo.InvariantCulture), root.Attribute("width")?.Value);
        Assert.Equal(figure.Height.ToString(System.Globalization.CultureInfo.InvariantCulture), root.Attribute("height")?.Value);
        Assert.Contains(root.Descendants(), e => e.Name.LocalName == "text");
        Assert.Equal(new[] { "figure.png", "figure.svg" }, Directory.GetFiles(dir.File("sub")).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void LogAxesAreUsedForValuesThatSpanDecadesAndLabelTheirTicks()
    {
        Assert.True(Charts.SpansDecades([0.02, 0.5, 3]));
        Assert.False(Charts.SpansDecades([1, 5, 9.9]));
        Assert.False(Charts.SpansDecades([-1, 100]));
        Assert.False(Charts.SpansDecades([]));
        // Less than a decade and a half: every 1-9 × 10^k is labelled.
        var narrow = Charts.LogTickList(30_000, 110_000, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var labels = narrow.Where(t => t.IsMajor).Select(t => t.Label).ToList();
        Assert.Contains("40000", labels);
        Assert.Contains("100000", labels);
        var tick = narrow.First(t => t.Label == "50000");
        Assert.Equal(Math.Log10(50_000), tick.Position, 9);
        // Over four decades: only the powers of ten.
        var wide = Charts.LogTickList(1e-3, 10, v => v.ToString("G", System.Globalization.CultureInfo.InvariantCulture));
        Assert.DoesNotContain("0.02", wide.Where(t => t.IsMajor).Select(t => t.Label));
        Assert.Contains("0.01", wide.Where(t => t.IsMajor).Select(t => t.Label));
        Assert.Contains(wide, t => !t.IsMajor && Math.Abs(t.Position - Math.Log10(0.02)) < 1e-9);
        Assert.Equal("0.00128", Charts.Format(0.00128));
        Assert.Equal("12.3", Charts.Format(12.34));
        Assert.Equal("-1.5E-5", Charts.Format(-1.5e-5));
    }
}
